"""PTZ for the video gateway: run people's commands, and pause a camera's zone rules while
it looks away from the view they were drawn for.

The core sends `PtzCommand`s (``commands/video/<camera>/ptz``); `PtzControl` runs them in
order on its thread ``video.ptz`` through a `PtzDriver` per camera (the ONVIF PTZ service,
`adapters.onvif.ptz`). A camera with an ``analysis_preset`` is *on preset* until a command
moves it (another preset, a step, a continuous move): its rules are paused then
(`paused`, the ``rules`` fault of its status: 规则暂停 in the console). A goto to its
analysis preset resumes them once the device says it stopped there (its position within
``PRESET_TOLERANCE`` of the preset's, when the device gives the preset's position). At
start, and every ``check_every_s`` while no command is waiting, each such camera's
position is checked the same way: a camera moved by other means (its own web page, a
patrol) pauses, one back at the preset (many return home by themselves after a while)
resumes. A command the device refuses
is a ``ptz`` fault until the next one works. Commands older than ``max_age_s`` (held up
by an outage) are dropped: a move is for someone watching now.

`RulesGate` is the frame sink in front of analysis that holds back a paused camera's
frames: its tracks, timers and episodes stand still until it is back.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.clock import Clock
from gateway.contract import ContractError, PtzAction, PtzCommand, parse_message
from gateway.ports import InboundMessage
from gateway.video.frame import Frame
from gateway.video.frame_sink import FrameSink

log = logging.getLogger(__name__)

#: generic-space distance (per axis) within which a camera is "at" a preset's position
PRESET_TOLERANCE = 0.02


@dataclass(frozen=True)
class PtzPosition:
    pan: float
    tilt: float
    zoom: float

    def near(self, other: PtzPosition, tolerance: float = PRESET_TOLERANCE) -> bool:
        return (
            abs(self.pan - other.pan) <= tolerance
            and abs(self.tilt - other.tilt) <= tolerance
            and abs(self.zoom - other.zoom) <= tolerance
        )


@dataclass(frozen=True)
class PtzStatus:
    position: PtzPosition | None  # None: the device does not say
    moving: bool


class PtzError(Exception):
    """A PTZ call failed; ``reason`` names the device by address only (no credentials)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PtzDriver(Protocol):
    """One camera's PTZ service; every call bounded by a timeout, raising `PtzError`."""

    def goto_preset(self, preset: str) -> None: ...

    def relative_move(self, pan: float, tilt: float, zoom: float) -> None: ...

    def continuous_move(self, pan: float, tilt: float, zoom: float, timeout_s: float) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> PtzStatus: ...

    def preset_position(self, preset: str) -> PtzPosition | None: ...


DriverFor = Callable[[str], PtzDriver | None]  # camera id -> its driver (None: no PTZ here)


class PtzControl:
    """Runs PTZ commands for this gateway's cameras; knows which ones look away."""

    def __init__(
        self,
        driver_for: DriverFor,
        analysis_preset: Callable[[str], str | None],
        *,
        clock: Clock,
        on_change: Callable[[str], None] = lambda _camera_id: None,
        max_age_s: float = 10.0,
        settle_s: float = 20.0,
        poll_s: float = 0.2,
        check_every_s: float = 30.0,
        to_check: Callable[[], list[str]] = lambda: [],
    ) -> None:
        """``to_check``: the cameras with an analysis preset, whose position is checked
        every ``check_every_s``."""
        self._driver_for = driver_for
        self._analysis_preset = analysis_preset
        self._clock = clock
        self._on_change = on_change
        self._max_age_s = max_age_s
        self._settle_s = settle_s
        self._poll_s = poll_s
        self._check_every_s = check_every_s
        self._to_check = to_check
        self._queue: queue.Queue[PtzCommand | str | None] = queue.Queue(maxsize=256)
        self._paused: dict[str, str] = {}  # camera -> why its rules are paused
        self._faults: dict[str, str] = {}  # camera -> why its last command failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.handled = 0
        self.dropped = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self, check: list[str] | None = None) -> None:
        """Start the thread; ``check``: cameras whose position to compare with their
        analysis preset first (a camera left looking away while the gateway was down)."""
        if self._thread is not None:
            return
        self._stop.clear()
        for camera_id in check or []:
            self._queue.put_nowait(camera_id)
        self._thread = threading.Thread(target=self._run, name="video.ptz", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---------------------------------------------------------------- what others ask
    def paused(self, camera_id: str) -> bool:
        return camera_id in self._paused

    def faults(self, camera_id: str) -> dict[str, str]:
        """The camera's PTZ parts for its status: ``rules`` (paused, why), ``ptz`` (failed)."""
        found: dict[str, str] = {}
        if camera_id in self._paused:
            found["rules"] = self._paused[camera_id]
        if self._faults.get(camera_id):
            found["ptz"] = self._faults[camera_id]
        return found

    def forget(self, cameras: set[str]) -> None:
        """Keep state only for ``cameras`` (after a reload)."""
        for table in (self._paused, self._faults):
            for camera_id in [c for c in list(table) if c not in cameras]:
                table.pop(camera_id, None)

    def submit(self, command: PtzCommand) -> bool:
        """Queue a command; False (and logged) when the queue is full."""
        try:
            self._queue.put_nowait(command)
        except queue.Full:
            self.dropped += 1
            log.warning("ptz: queue full, %s for %s dropped", command.action, command.camera_id)
            return False
        return True

    def on_command_message(self, message: InboundMessage) -> None:
        """An MQTT ``commands/video/+/ptz`` message: parsed, queued, acknowledged."""
        try:
            command = parse_message(message.payload, expect=PtzCommand)
        except ContractError as error:
            log.warning("ptz command on %s rejected: %s: %s", message.topic, error.code, error)
            message.ack()
            return
        assert isinstance(command, PtzCommand)
        if self._driver_for(command.camera_id) is not None:
            self.submit(command)
        message.ack()

    # ---------------------------------------------------------------- the thread
    def _run(self) -> None:
        next_check = self._clock.monotonic() + self._check_every_s
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=max(0.0, next_check - self._clock.monotonic()))
            except queue.Empty:
                for camera_id in self._to_check():
                    if self._stop.is_set():
                        return
                    self._check_position(camera_id, "found at a check")
                next_check = self._clock.monotonic() + self._check_every_s
                continue
            if item is None:
                break
            try:
                if isinstance(item, str):
                    self._check_position(item, "found at start")
                else:
                    self._handle(item)
            except Exception:  # never let one command end the thread
                log.exception("ptz: handling %r failed", item)

    def _handle(self, command: PtzCommand) -> None:
        camera_id = command.camera_id
        age = (self._clock.now() - command.ts).total_seconds()
        if age > self._max_age_s:
            self.dropped += 1
            log.warning("ptz: %s for %s is %.0f s old: dropped", command.action, camera_id, age)
            return
        driver = self._driver_for(camera_id)
        if driver is None:
            return
        log.info(
            "ptz: camera %s %s %s by %s",
            camera_id,
            command.action,
            command.preset or f"({command.pan}, {command.tilt}, {command.zoom})",
            command.requested_by or "?",
        )
        try:
            self._run_command(driver, command)
        except PtzError as exc:
            self.handled += 1
            self._set(self._faults, camera_id, f"{command.action}: {exc.reason}"[:300])
            return
        self.handled += 1
        self._set(self._faults, camera_id, "")
        home = self._analysis_preset(camera_id)
        if home is None or command.action is PtzAction.STOP:
            return
        if command.action is PtzAction.GOTO_PRESET and command.preset == home:
            self._settle_at(driver, camera_id, home)
        else:
            what = f"goto preset {command.preset}" if command.preset else str(command.action)
            self._set(self._paused, camera_id, f"off analysis preset {home} ({what})")

    @staticmethod
    def _run_command(driver: PtzDriver, command: PtzCommand) -> None:
        if command.action is PtzAction.GOTO_PRESET:
            assert command.preset is not None
            driver.goto_preset(command.preset)
        elif command.action is PtzAction.RELATIVE_MOVE:
            driver.relative_move(command.pan, command.tilt, command.zoom)
        elif command.action is PtzAction.CONTINUOUS_MOVE:
            driver.continuous_move(command.pan, command.tilt, command.zoom, command.timeout_s)
        else:
            driver.stop()

    def _settle_at(self, driver: PtzDriver, camera_id: str, preset: str) -> None:
        """Wait for the camera to stop at ``preset``; then its rules run again."""
        try:
            target = driver.preset_position(preset)
        except PtzError as exc:
            log.warning("ptz: camera %s: preset %s position unknown: %s", camera_id, preset, exc)
            target = None
        deadline = self._clock.monotonic() + self._settle_s
        while not self._stop.is_set():
            try:
                status = driver.status()
            except PtzError as exc:
                log.warning("ptz: camera %s: status: %s", camera_id, exc)
                status = None
            if status is not None and not status.moving:
                there = target is None or status.position is None or status.position.near(target)
                if there:
                    log.info("ptz: camera %s back at analysis preset %s", camera_id, preset)
                    self._set(self._paused, camera_id, "")
                    return
            if self._clock.monotonic() >= deadline:
                self._set(self._paused, camera_id, f"not back at analysis preset {preset}")
                return
            self._stop.wait(self._poll_s)

    def _check_position(self, camera_id: str, how: str) -> None:
        """Is the camera at its analysis preset? If not, its rules wait; if it is (and
        stands still), they run."""
        home = self._analysis_preset(camera_id)
        driver = self._driver_for(camera_id)
        if home is None or driver is None:
            return
        try:
            target = driver.preset_position(home)
            status = driver.status()
        except PtzError as exc:
            log.warning("ptz: camera %s: position not checked: %s", camera_id, exc)
            return
        if target is None or status.position is None or status.moving:
            return  # nothing to tell by
        if status.position.near(target):
            if camera_id in self._paused:
                log.info("ptz: camera %s found back at analysis preset %s", camera_id, home)
                self._set(self._paused, camera_id, "")
        elif camera_id not in self._paused:
            self._set(self._paused, camera_id, f"off analysis preset {home} ({how})")

    def _set(self, table: dict[str, str], camera_id: str, value: str) -> None:
        if (table.get(camera_id) or "") == value:
            return
        if value:
            table[camera_id] = value
        else:
            table.pop(camera_id, None)
        log.info("ptz: camera %s: %s", camera_id, value or "resumed")
        try:
            self._on_change(camera_id)
        except Exception:
            log.exception("ptz: status update of %s failed", camera_id)


class RulesGate:
    """A `FrameSink` in front of analysis that holds back the frames of paused cameras."""

    def __init__(self, sink: FrameSink, paused: Callable[[str], bool]) -> None:
        self._sink = sink
        self._paused = paused
        self.held_back = 0

    def submit(self, frame: Frame) -> None:
        if self._paused(frame.camera_id):
            self.held_back += 1
            return
        self._sink.submit(frame)
