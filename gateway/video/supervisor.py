"""The camera supervisor: one isolated reader per configured camera, reconfigurable live.

`apply(cameras)` brings the running set in line with a configuration: new cameras start,
removed ones stop, changed ones are replaced. Each camera runs in its own thread, so a
camera that hangs or fails never stalls another; stopping a reader never waits on
another camera (removed readers wind down in the background and are joined at `stop`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.video.camera import CameraReader
from gateway.video.settings import CameraConfig

log = logging.getLogger(__name__)

ReaderFactory = Callable[[CameraConfig], CameraReader]


class SupervisorState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ApplyResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"added {self.added}, removed {self.removed}, replaced {self.replaced}"


class CameraSupervisor:
    def __init__(
        self, make_reader: ReaderFactory, *, on_removed: Callable[[str], None] | None = None
    ) -> None:
        self._make_reader = make_reader
        self._on_removed = on_removed
        self._readers: dict[str, CameraReader] = {}
        self._retiring: list[CameraReader] = []
        self._lock = threading.Lock()
        self._state = SupervisorState.NEW

    @property
    def state(self) -> SupervisorState:
        return self._state

    def _set_state(self, state: SupervisorState) -> None:
        if state != self._state:
            log.info("camera supervisor %s -> %s", self._state, state)
            self._state = state

    @property
    def readers(self) -> dict[str, CameraReader]:
        with self._lock:
            return dict(self._readers)

    def reader(self, camera_id: str) -> CameraReader | None:
        with self._lock:
            return self._readers.get(camera_id)

    def apply(self, cameras: Sequence[CameraConfig]) -> ApplyResult:
        """Start, stop or replace readers so that exactly the enabled ``cameras`` run."""
        wanted = {c.id: c for c in cameras if c.enabled}
        result = ApplyResult()
        with self._lock:
            if self._state == SupervisorState.STOPPED:
                raise RuntimeError("the camera supervisor is stopped")
            self._set_state(SupervisorState.RUNNING)
            for camera_id in list(self._readers):
                reader = self._readers[camera_id]
                if camera_id not in wanted:
                    reader.request_stop()
                    self._retiring.append(reader)
                    del self._readers[camera_id]
                    result.removed.append(camera_id)
                elif reader.camera != wanted[camera_id]:
                    reader.request_stop(silent=True)
                    self._retiring.append(reader)
                    del self._readers[camera_id]
                    result.replaced.append(camera_id)
            for camera_id, camera in wanted.items():
                if camera_id not in self._readers:
                    reader = self._make_reader(camera)
                    self._readers[camera_id] = reader
                    reader.start()
                    if camera_id not in result.replaced:
                        result.added.append(camera_id)
            self._retiring = [r for r in self._retiring if not r.finished]
        for camera_id in result.removed:
            if self._on_removed is not None:
                self._on_removed(camera_id)
        if result.added or result.removed or result.replaced:
            log.info("cameras: %s", result)
        return result

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            readers = list(self._readers.values()) + self._retiring
            self._readers.clear()
            self._retiring = []
            self._set_state(SupervisorState.STOPPED)
        for reader in readers:
            reader.request_stop()
        for reader in readers:
            reader.stop(timeout)
