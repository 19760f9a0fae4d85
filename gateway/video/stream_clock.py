"""A camera's own clock: the time its pictures were taken, from their timestamps (PTS).

Dwell, stay-down and count timers, tracking and the analysis cadence run on this clock,
so what a rule decides depends on the video, not on how fast this machine or the network
delivers it: a clip played faster than real time, or pictures that arrive in a burst after
a stall, keep their own spacing. The clock is anchored to the monotonic clock at the first
picture of a connection (so it can be compared with it), advances with the pictures'
timestamps, and never goes back: a timestamp that jumps backwards or far ahead (a stream
that loops or restarts, a reconnect) re-anchors it, continuing from where it was.
"""

from __future__ import annotations

#: a jump between consecutive pictures larger than this is a discontinuity, not time
MAX_STEP_S = 10.0
#: the step assumed across a discontinuity
RESTART_STEP_S = 0.04


class StreamClock:
    """Maps a picture's timestamp (seconds, or None when the stream has none) to a
    monotonic-comparable time that never decreases. Not thread-safe: one per reader."""

    def __init__(self) -> None:
        self._anchor: float | None = None  # stream time = anchor + picture timestamp
        self._last_pts: float | None = None
        self._last: float | None = None  # the last time handed out

    def reset(self) -> None:
        """A new connection: the next picture re-anchors (time still never goes back)."""
        self._anchor = None
        self._last_pts = None

    def time_of(self, pts_s: float | None, arrived: float) -> float:
        """The stream time of a picture with timestamp ``pts_s`` that arrived at
        ``arrived`` (monotonic)."""
        if pts_s is None:
            stream_time = arrived  # no timestamps: arrival is all there is
        else:
            if self._anchor is None or self._last_pts is None:  # a connection's first
                self._anchor = arrived - pts_s
            else:
                step = pts_s - self._last_pts
                if step <= 0 or step > MAX_STEP_S:  # the stream looped or restarted
                    assert self._last is not None
                    self._anchor = self._last + RESTART_STEP_S - pts_s
            self._last_pts = pts_s
            stream_time = self._anchor + pts_s
        if self._last is not None and stream_time <= self._last:
            # never back: a reconnect anchored on arrival before the last picture
            bumped = self._last + 1e-3
            if self._anchor is not None and pts_s is not None:
                self._anchor += bumped - stream_time
            stream_time = bumped
        self._last = stream_time
        return stream_time
