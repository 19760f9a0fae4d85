"""Camera health as the core sees it: the latest retained status of each camera.

The video gateways publish a retained `CameraStatus` per camera on every state change and
every ``status_interval_s``; each gateway's connection also leaves a retained
`DaemonStatus` (``status/video/<instance>``) whose ``offline`` the broker publishes as
the gateway's last will. The `CameraRegistry` keeps the newest status per camera and
judges it when asked, at a given ``now``:

- ``online``   the camera delivers pictures;
- ``degraded`` it is starting, reconnecting or failing (wrong credentials, no stream);
- ``offline``  the gateway says so, or every video gateway the core knows is offline
  (its last will: a dead gateway cannot report its cameras any more);
- ``unknown``  the last status is older than ``stale_after`` (stale), or none came.

A status names the gateway instance that pulls the camera (contract 1.1), so one gateway's
last will takes exactly its cameras offline; for a status without it (an older gateway)
only "every video gateway offline" tells for sure.

No I/O here: `CameraStatusConsumer` turns inbound MQTT messages into registry updates
and tells a listener what changed (the console's event stream).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from gateway.contract import (
    CameraState,
    CameraStatus,
    ContractError,
    DaemonState,
    DaemonStatus,
    parse_message,
)
from gateway.ports import InboundMessage

log = logging.getLogger(__name__)

VIDEO_DAEMON = "video"


class CameraHealth(StrEnum):
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


HEALTH_LABELS = {
    CameraHealth.ONLINE: "在线",
    CameraHealth.DEGRADED: "异常",
    CameraHealth.OFFLINE: "离线",
    CameraHealth.UNKNOWN: "未知",
}

_HEALTH_OF_STATE = {
    CameraState.ONLINE: CameraHealth.ONLINE,
    CameraState.STARTING: CameraHealth.DEGRADED,
    CameraState.RECONNECTING: CameraHealth.DEGRADED,
    CameraState.ERROR: CameraHealth.DEGRADED,
    CameraState.OFFLINE: CameraHealth.OFFLINE,
}


@dataclass(frozen=True, slots=True)
class CameraView:
    """One camera's health at one moment, as the API and the console show it."""

    camera_id: str
    health: CameraHealth
    state: CameraState
    stale: bool
    detail: str
    last_seen: datetime
    last_frame_at: datetime | None
    fps_in: float
    fps_analysed: float
    gateway_offline: bool
    faults: tuple[tuple[str, str], ...] = ()  # (part, reason): what does not work, by part

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "health": str(self.health),
            "health_label": HEALTH_LABELS[self.health],
            "state": str(self.state),
            "stale": self.stale,
            "detail": self.detail,
            "last_seen": self.last_seen,
            "last_frame_at": self.last_frame_at,
            "fps_in": round(self.fps_in, 2),
            "fps_analysed": round(self.fps_analysed, 2),
            "gateway_offline": self.gateway_offline,
            "faults": dict(self.faults),
        }

    def differs_from(self, other: CameraView | None) -> bool:
        """A change worth telling the console (not every periodic refresh of the rates)."""
        return other is None or (
            self.health,
            self.state,
            self.stale,
            self.detail,
            self.faults,
        ) != (other.health, other.state, other.stale, other.detail, other.faults)


class CameraRegistry:
    """The newest status per camera and the availability of each video gateway (thread-safe)."""

    def __init__(self, stale_after: timedelta) -> None:
        if stale_after <= timedelta(0):
            raise ValueError("stale_after must be positive")
        self.stale_after = stale_after
        self._lock = threading.Lock()
        self._statuses: dict[str, CameraStatus] = {}
        self._gateways: dict[str, DaemonState] = {}

    def update(self, status: CameraStatus) -> bool:
        """Keep ``status`` unless an equally new or newer one is held; True if kept."""
        with self._lock:
            held = self._statuses.get(status.camera_id)
            if held is not None and held.ts > status.ts:
                return False
            self._statuses[status.camera_id] = status
            return True

    def gateway(self, status: DaemonStatus) -> bool:
        """Note a video gateway's availability; True if it changed. Other daemons are ignored."""
        if status.daemon != VIDEO_DAEMON:
            return False
        with self._lock:
            previous = self._gateways.get(status.instance)
            self._gateways[status.instance] = status.state
            return previous != status.state

    def forget(self, camera_id: str) -> bool:
        """Drop a camera (its retained status was cleared); True if it was known."""
        with self._lock:
            return self._statuses.pop(camera_id, None) is not None

    @property
    def all_gateways_offline(self) -> bool:
        with self._lock:
            return self._all_offline()

    def _all_offline(self) -> bool:
        return bool(self._gateways) and all(
            s == DaemonState.OFFLINE for s in self._gateways.values()
        )

    def view(self, camera_id: str, now: datetime) -> CameraView | None:
        with self._lock:
            status = self._statuses.get(camera_id)
            return None if status is None else self._judge(status, now, self._all_offline())

    def cameras(self, now: datetime) -> list[CameraView]:
        """Every known camera, judged at ``now``, by id."""
        with self._lock:
            down = self._all_offline()
            return [self._judge(s, now, down) for _, s in sorted(self._statuses.items())]

    def _gateway_down(self, status: CameraStatus, all_down: bool) -> bool:
        if status.gateway is None:
            return all_down
        return self._gateways.get(status.gateway) == DaemonState.OFFLINE

    def _judge(self, status: CameraStatus, now: datetime, all_down: bool) -> CameraView:
        gateways_down = self._gateway_down(status, all_down)
        stale = now - status.ts > self.stale_after
        health = _HEALTH_OF_STATE[status.state]
        detail = status.detail
        if status.faults and health is CameraHealth.ONLINE:
            # it streams, but part of what it is for does not work (analysis, events)
            health = CameraHealth.DEGRADED
            detail = "; ".join(
                [detail, *(f"{part}: {why}" for part, why in sorted(status.faults.items()))]
            ).strip("; ")
        if gateways_down:
            health, detail = CameraHealth.OFFLINE, "视频网关离线"
        elif stale:
            age = int((now - status.ts).total_seconds())
            health, detail = CameraHealth.UNKNOWN, f"状态已过期（{age} 秒未更新）"
        return CameraView(
            camera_id=status.camera_id,
            health=health,
            state=status.state,
            stale=stale,
            detail=detail,
            last_seen=status.ts,
            last_frame_at=status.last_frame_at,
            fps_in=status.fps_in,
            fps_analysed=status.fps_analysed,
            gateway_offline=gateways_down,
            faults=tuple(sorted(status.faults.items())),
        )


#: told the cameras whose view changed (after each message that changed something)
CameraListener = Callable[[list[CameraView]], None]


class CameraStatusConsumer:
    """Inbound ``cameras/+/status`` and ``status/#`` messages into a `CameraRegistry`.

    Runs on the MQTT thread and never blocks: parse, update, tell ``on_change``, ack.
    A payload that breaks the contract is logged and dropped (the next status replaces it).
    """

    def __init__(
        self,
        registry: CameraRegistry,
        now: Callable[[], datetime],
        on_change: CameraListener | None = None,
    ) -> None:
        self.registry = registry
        self._now = now
        self._on_change = on_change
        self.rejected = 0

    def camera_status(self, message: InboundMessage) -> None:
        try:
            if not message.payload:  # a cleared retained status: the camera was removed
                camera_id = message.topic.rstrip("/").split("/")[-2]
                if self.registry.forget(camera_id):
                    self._tell([])
                return
            try:
                status = parse_message(message.payload, expect=CameraStatus)
            except ContractError as error:
                self.rejected += 1
                log.warning(
                    "camera status on %s rejected: %s: %s",
                    message.topic,
                    error.code,
                    error.reason[:300],
                )
                return
            assert isinstance(status, CameraStatus)
            now = self._now()
            before = self.registry.view(status.camera_id, now)
            if self.registry.update(status):
                after = self.registry.view(status.camera_id, now)
                if after is not None and after.differs_from(before):
                    self._tell([after])
        finally:
            message.ack()

    def daemon_status(self, message: InboundMessage) -> None:
        try:
            if not message.payload:
                return
            try:
                status = parse_message(message.payload, expect=DaemonStatus)
            except ContractError as error:
                self.rejected += 1
                log.warning("daemon status on %s rejected: %s", message.topic, error.code)
                return
            assert isinstance(status, DaemonStatus)
            if self.registry.gateway(status):
                log.info("video gateway %s is %s", status.instance, status.state)
                self._tell(self.registry.cameras(self._now()))
        finally:
            message.ack()

    def _tell(self, views: list[CameraView]) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(views)
        except Exception:  # the console's stream must never cost the core a status
            log.exception("camera change listener failed")
