"""PTZ commands from the console's live view: checked here, sent to the video gateways.

`PtzCommands.send` turns a person's button press into a `PtzCommand` for the camera's
video gateway (``commands/video/<camera>/ptz``) and publishes it; the gateway runs it on
the camera and tells what came of it in the camera's status (``faults``: ``rules`` while
the camera looks away from its analysis preset, ``ptz`` when the camera refused). Only
operators and shift leads move cameras (the live view's people at the desk); a camera
the core has never heard of is refused. No I/O here beyond the injected publish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from gateway.contract import PtzAction, PtzCommand, Source
from gateway.core.cameras import CameraRegistry
from gateway.core.workflow import Actor, Role

log = logging.getLogger(__name__)

#: who may move a camera
PTZ_OPERATORS = frozenset({Role.OPERATOR, Role.SHIFT_LEAD})


class PtzRefused(Exception):
    """A command not sent: ``code`` for the API (``unknown_camera``, ``bad_ptz``)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class PtzCommands:
    """Builds and publishes PTZ commands for the cameras the core knows."""

    def __init__(
        self,
        publish: Callable[[PtzCommand], object],
        source: Source,
        cameras: CameraRegistry,
        now: Callable[[], datetime],
    ) -> None:
        self._publish = publish
        self._source = source
        self._cameras = cameras
        self._now = now

    def send(
        self,
        camera_id: str,
        actor: Actor,
        action: PtzAction,
        *,
        preset: str | None = None,
        pan: float = 0.0,
        tilt: float = 0.0,
        zoom: float = 0.0,
        timeout_s: float = 1.0,
    ) -> PtzCommand:
        now = self._now()
        if self._cameras.view(camera_id, now) is None:
            raise PtzRefused("unknown_camera", f"no video gateway has reported camera {camera_id}")
        try:
            command = PtzCommand.create(
                source=self._source,
                ts=now,
                camera_id=camera_id,
                action=action,
                preset=preset,
                pan=pan,
                tilt=tilt,
                zoom=zoom,
                timeout_s=timeout_s,
                requested_by=actor.name,
            )
        except ValidationError as exc:
            reason = "; ".join(str(e["msg"]) for e in exc.errors())
            raise PtzRefused("bad_ptz", reason[:300]) from None
        self._publish(command)
        log.info("ptz: %s %s on %s by %s", command.id, action, camera_id, actor.name)
        return command
