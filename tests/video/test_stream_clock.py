"""The camera's own clock follows picture timestamps, not arrival, and never goes back."""

from __future__ import annotations

from gateway.video.stream_clock import RESTART_STEP_S, StreamClock


def test_pictures_delivered_four_times_faster_than_real_time_keep_their_own_spacing() -> None:
    clock = StreamClock()
    times = [clock.time_of(pts_s=i * 0.1, arrived=100.0 + i * 0.025) for i in range(41)]
    assert times[0] == 100.0
    assert abs((times[-1] - times[0]) - 4.0) < 1e-9  # 4 s of video, delivered in 1 s


def test_a_burst_after_a_stall_is_spread_over_the_time_the_pictures_were_taken() -> None:
    clock = StreamClock()
    clock.time_of(0.0, arrived=10.0)
    burst = [clock.time_of(pts_s=0.2 * i, arrived=13.0) for i in range(1, 16)]
    assert [round(b - 10.0, 6) for b in burst] == [round(0.2 * i, 6) for i in range(1, 16)]


def test_a_stream_that_loops_continues_from_where_it_was() -> None:
    clock = StreamClock()
    last = 0.0
    for i in range(100):
        last = clock.time_of(i * 0.1, arrived=50.0 + i * 0.1)
    looped = clock.time_of(0.0, arrived=60.0)
    assert abs(looped - (last + RESTART_STEP_S)) < 1e-9
    assert abs(clock.time_of(0.1, arrived=60.1) - (looped + 0.1)) < 1e-9


def test_a_reconnect_anchors_on_arrival_and_never_goes_back() -> None:
    clock = StreamClock()
    before = clock.time_of(1000.0, arrived=5.0)
    clock.reset()
    after_outage = clock.time_of(3.0, arrived=35.0)  # the camera restarted its timestamps
    assert after_outage == 35.0  # 30 s of outage count as time passing
    clock.reset()
    early = clock.time_of(7.0, arrived=34.0)  # an arrival before the last time handed out
    assert early > after_outage > before


def test_a_stream_without_timestamps_runs_on_arrival() -> None:
    clock = StreamClock()
    assert clock.time_of(None, arrived=3.0) == 3.0
    assert clock.time_of(None, arrived=3.5) == 3.5
