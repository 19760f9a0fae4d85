"""The test device's pan-tilt-zoom head and its ONVIF PTZ operations (SOAP bodies in, out).

`PtzHead` moves in the generic spaces a real PTZ camera reports (pan and tilt -1..1,
zoom 0..1) and takes time to do it, so a client sees ``MOVING`` and then ``IDLE``:

- ``GotoPreset``: to a stored position in ``goto_s`` seconds;
- ``RelativeMove``: by a step (same time);
- ``ContinuousMove``: at a speed (``speed_per_s`` units a second at velocity 1) until
  ``Stop`` or the request's ``Timeout``;
- ``Stop``: where it is now; ``GetStatus``: the position and whether it moves;
- ``GetPresets``: the presets with their positions.

`PtzOperations.handle(operation, request)` answers the body of one of these, or ``None``
for an operation that is not PTZ. Pure apart from the injected clock.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

NS = {
    "tt": "http://www.onvif.org/ver10/schema",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
}
_GENERIC_PAN_TILT = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
_GENERIC_ZOOM = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"


@dataclass(frozen=True)
class Position:
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    def clamped(self) -> Position:
        return Position(
            max(-1.0, min(1.0, self.pan)),
            max(-1.0, min(1.0, self.tilt)),
            max(0.0, min(1.0, self.zoom)),
        )

    def toward(self, target: Position, share: float) -> Position:
        share = max(0.0, min(1.0, share))
        return Position(
            self.pan + (target.pan - self.pan) * share,
            self.tilt + (target.tilt - self.tilt) * share,
            self.zoom + (target.zoom - self.zoom) * share,
        )


class PtzFault(Exception):
    """An ONVIF fault the device answers (subcode, reason)."""

    def __init__(self, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason


class PtzHead:
    """Where the camera looks, moving over time (thread-safe)."""

    def __init__(
        self,
        presets: dict[str, tuple[str, Position]] | None = None,
        *,
        goto_s: float = 0.4,
        speed_per_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.presets = dict(
            presets
            if presets is not None
            else {"1": ("gate", Position()), "2": ("crossing", Position(0.5, -0.2, 0.3))}
        )
        self.goto_s = goto_s
        self.speed_per_s = speed_per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._start = self.presets["1"][1] if "1" in self.presets else Position()
        self._target: Position | None = None  # a goto or step under way
        self._velocity: Position | None = None  # a continuous move under way
        self._since = clock()
        self._until = self._since
        self.moves = 0  # commands that moved it (tests read it)

    def _now_position(self, now: float) -> Position:
        if self._target is not None:
            span = self._until - self._since
            share = 1.0 if span <= 0 else (now - self._since) / span
            return self._start.toward(self._target, share).clamped()
        if self._velocity is not None:
            elapsed = min(now, self._until) - self._since
            v = self._velocity
            step = self.speed_per_s * elapsed
            return Position(
                self._start.pan + v.pan * step,
                self._start.tilt + v.tilt * step,
                self._start.zoom + v.zoom * step,
            ).clamped()
        return self._start

    def _settle(self, now: float) -> Position:
        """Fix the position reached by now as the new start (no move under way)."""
        position = self._now_position(now)
        self._start, self._target, self._velocity = position, None, None
        self._since = self._until = now
        return position

    def position(self) -> tuple[Position, bool]:
        """Where it looks now, and whether it moves."""
        with self._lock:
            now = self._clock()
            moving = (self._target is not None or self._velocity is not None) and now < self._until
            return self._now_position(now), moving

    def goto(self, target: Position) -> None:
        with self._lock:
            now = self._clock()
            self._settle(now)
            self._target = target.clamped()
            self._until = now + self.goto_s
            self.moves += 1

    def goto_preset(self, token: str) -> None:
        if token not in self.presets:
            raise PtzFault("ter:InvalidArgVal/ter:NoToken", f"no preset {token!r}")
        self.goto(self.presets[token][1])

    def step(self, delta: Position) -> None:
        current, _ = self.position()
        self.goto(
            Position(current.pan + delta.pan, current.tilt + delta.tilt, current.zoom + delta.zoom)
        )

    def run(self, velocity: Position, timeout_s: float) -> None:
        with self._lock:
            now = self._clock()
            self._settle(now)
            self._velocity = velocity
            self._until = now + max(0.0, timeout_s)
            self.moves += 1

    def stop(self) -> None:
        with self._lock:
            self._settle(self._clock())


def _vector(element: ET.Element | None) -> Position:
    """A ``tt:PTZVector``/``tt:PTZSpeed`` (``PanTilt x y``, ``Zoom x``); missing axes are 0."""
    if element is None:
        return Position()
    pan_tilt = element.find("tt:PanTilt", NS)
    zoom = element.find("tt:Zoom", NS)
    return Position(
        float(pan_tilt.get("x", 0)) if pan_tilt is not None else 0.0,
        float(pan_tilt.get("y", 0)) if pan_tilt is not None else 0.0,
        float(zoom.get("x", 0)) if zoom is not None else 0.0,
    )


def _vector_xml(tag: str, position: Position) -> str:
    return (
        f'<tt:{tag}><tt:PanTilt x="{position.pan:.4f}" y="{position.tilt:.4f}" '
        f'space="{_GENERIC_PAN_TILT}"/><tt:Zoom x="{position.zoom:.4f}" '
        f'space="{_GENERIC_ZOOM}"/></tt:{tag}>'
    )


class PtzOperations:
    """The PTZ service's SOAP operations on one `PtzHead`."""

    def __init__(self, head: PtzHead, parse_duration: Callable[[str, float], float]) -> None:
        self.head = head
        self._duration = parse_duration

    def handle(self, operation: str, request: ET.Element) -> str | None:
        handler = getattr(self, f"_op_{operation}", None)
        return None if handler is None else str(handler(request))

    def _op_GetPresets(self, _request: ET.Element) -> str:
        presets = "".join(
            f'<tptz:Preset token="{escape(token)}"><tt:Name>{escape(name)}</tt:Name>'
            f"{_vector_xml('PTZPosition', position)}</tptz:Preset>"
            for token, (name, position) in self.head.presets.items()
        )
        return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"

    def _op_GotoPreset(self, request: ET.Element) -> str:
        self.head.goto_preset(request.findtext("tptz:PresetToken", "", NS))
        return "<tptz:GotoPresetResponse/>"

    def _op_RelativeMove(self, request: ET.Element) -> str:
        self.head.step(_vector(request.find("tptz:Translation", NS)))
        return "<tptz:RelativeMoveResponse/>"

    def _op_ContinuousMove(self, request: ET.Element) -> str:
        timeout = self._duration(request.findtext("tptz:Timeout", "", NS) or "", 10.0)
        self.head.run(_vector(request.find("tptz:Velocity", NS)), timeout)
        return "<tptz:ContinuousMoveResponse/>"

    def _op_Stop(self, _request: ET.Element) -> str:
        self.head.stop()
        return "<tptz:StopResponse/>"

    def _op_GetStatus(self, _request: ET.Element) -> str:
        position, moving = self.head.position()
        state = "MOVING" if moving else "IDLE"
        utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus>"
            f"{_vector_xml('Position', position)}"
            f"<tt:MoveStatus><tt:PanTilt>{state}</tt:PanTilt><tt:Zoom>{state}</tt:Zoom>"
            f"</tt:MoveStatus><tt:UtcTime>{utc}</tt:UtcTime>"
            "</tptz:PTZStatus></tptz:GetStatusResponse>"
        )
