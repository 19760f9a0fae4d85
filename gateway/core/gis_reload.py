"""Picking up a new GIS import without restarting the core.

Every import (`citygw gis import ...`, another process) bumps the base data's version in
its own transaction (`BaseDataStore.version`). `BaseDataReload` reads that version every
``interval_s`` (one indexed read) and, when it changed, loads the base data again off the
request path: the intake's grid index (`CaseService.grids`) and the map's data
(`MapSource.replace`), each swapped in one assignment, so a candidate or a request in
flight finishes on the data it started with. A failed reload is logged and tried again at
the next tick; the data held stays in use. ``check_now()`` does one round at once (tests,
a signal handler).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Sequence

from gateway.core.gis_routes import CaseMap, MapSource, load_map_data
from gateway.gis.camera_places import CameraPlace
from gateway.gis.index import GridIndex
from gateway.gis.ports import BaseDataStore

log = logging.getLogger(__name__)


class ReloadState(enum.StrEnum):
    IDLE = "idle"
    WATCHING = "watching"
    STOPPED = "stopped"


class BaseDataReload:
    """Watches the base data's version and reloads the intake's grids and the map."""

    def __init__(
        self,
        store: BaseDataStore,
        *,
        set_grids: Callable[[GridIndex | None], None],
        map_source: MapSource | None = None,
        cases: CaseMap | None = None,
        cameras: Sequence[CameraPlace] = (),
        interval_s: float = 10.0,
        version: int | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._store = store
        self._set_grids = set_grids
        self._map = map_source
        self._cases = cases
        self._cameras = tuple(cameras)
        self.interval_s = interval_s
        #: the version of the data now in use (read at start when not given)
        self.version = store.version() if version is None else version
        self.reloads = 0
        self.state = ReloadState.IDLE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one round at a time

    def _set_state(self, state: ReloadState) -> None:
        if state is not self.state:
            log.info("base data reload: %s -> %s", self.state, state)
            self.state = state

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="core.gis-reload", daemon=True)
        self._set_state(ReloadState.WATCHING)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._set_state(ReloadState.STOPPED)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check_now()
            except Exception:  # the data held stays in use; the next tick tries again
                log.exception("base data reload failed; keeping the data loaded before")

    def check_now(self) -> bool:
        """Reload when the stored version differs from the one in use; True if reloaded."""
        with self._lock:
            stored = self._store.version()
            if stored == self.version:
                return False
            grids = GridIndex(self._store.grids())
            if self._map is not None and self._cases is not None:
                self._map.replace(load_map_data(self._store, self._cases, grids, self._cameras))
            self._set_grids(grids if len(grids) else None)
            log.info(
                "base data version %d -> %d: %d unit grids loaded", self.version, stored, len(grids)
            )
            self.version = stored
            self.reloads += 1
            return True
