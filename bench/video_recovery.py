"""Benchmark: how soon a camera's pictures come back after its stream server returns.

    .venv/bin/python bench/video_recovery.py [--outages 5] [--down-s 3,8,20]

One run, one machine, the same outages on both sides, in turn on the same test camera
(GStreamer's RTSP server serving vtest; `TestCamera.kill` / `restart`, a camera losing
power and coming back):

(a) baseline: the reader as it was, first retry after 10 s doubling to 300 s, no probe;
(b) citygw: first retry after 1 s, and while waiting a TCP probe of the stream server
    twice a second (`adapters.rtsp.reachability.tcp_reachable`) that cuts the wait short.

For each outage length (how long the server stays down) and each side: the seconds from
the server accepting connections again to the first new decoded picture. Also the case
the issue saw: the camera configured by ONVIF, its web service down while the stream
comes back: citygw streams from the last good address (ONVIF would have answered
nothing). Target: pictures again <= 2 s after the stream returns. Results:
bench/results/video_recovery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.rtsp.reachability import tcp_reachable  # noqa: E402
from adapters.rtsp.rtsp_source import RtspSource  # noqa: E402
from gateway.clock import SystemClock  # noqa: E402
from gateway.video.camera import CameraReader  # noqa: E402
from gateway.video.frame import Frame  # noqa: E402
from gateway.video.settings import CameraConfig, IngestConfig  # noqa: E402
from gateway.video.stream_addresses import StreamAddressBook, with_last_good  # noqa: E402
from gateway.video.testcam.harness import TestCamera  # noqa: E402

RESULTS = REPO / "bench" / "results" / "video_recovery.json"


class Pictures:
    """A frame sink that timestamps each picture's arrival."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._cond = threading.Condition()

    def submit(self, frame: Frame) -> None:
        with self._cond:
            self.times.append(time.monotonic())
            self._cond.notify_all()

    def first_after(self, moment: float, timeout: float) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: bool(self.times) and self.times[-1] > moment, timeout)
            later = [t for t in self.times if t > moment]
        return later[0] if later else None


def reader_for(url_of: Any, ingest: dict[str, Any], probe: bool, sink: Pictures) -> CameraReader:
    settings = IngestConfig.model_validate({"watchdog_s": 5, "open_timeout_s": 5, **ingest})
    return CameraReader(
        CameraConfig(id="bench-cam", rtsp_url="rtsp://127.0.0.1:1/placeholder"),
        resolve_url=url_of,
        source_factory=lambda u, n, p: RtspSource(u, n, p, open_timeout_s=5, read_timeout_s=5),
        ingest=settings,
        analysis_fps=5,
        clock=SystemClock(),
        report=lambda _s: None,
        sink=sink,  # type: ignore[arg-type]
        reachable=tcp_reachable if probe else None,
    )


def outage(camera: TestCamera, sink: Pictures, down_s: float, timeout: float) -> float | None:
    """Kill the stream server, keep it down ``down_s``, restart it: seconds from its
    restart to the next picture (None: none within ``timeout``)."""
    if sink.first_after(time.monotonic(), 20) is None:
        raise RuntimeError("no pictures before the outage")
    camera.kill()
    time.sleep(down_s)
    camera.restart()
    back = time.monotonic()
    first = sink.first_after(back, timeout)
    return None if first is None else round(first - back, 3)


def side(
    camera: TestCamera, name: str, ingest: dict[str, Any], probe: bool, downs: list[float], n: int
) -> dict[str, Any]:
    sink = Pictures()
    reader = reader_for(lambda: camera.sub_rtsp_url, ingest, probe, sink)
    reader.start()
    rows: dict[str, Any] = {}
    try:
        for down_s in downs:
            values = [outage(camera, sink, down_s, timeout=120) for _ in range(n)]
            got = [v for v in values if v is not None]
            rows[f"down_{down_s:g}s"] = {
                "seconds_to_pictures": values,
                "median": round(statistics.median(got), 3) if got else None,
                "max": max(got) if got else None,
                "never": len(values) - len(got),
            }
            print(f"  {name:9} down {down_s:>4g} s: {values}", flush=True)
    finally:
        reader.stop(10)
    return rows


def onvif_down(camera: TestCamera, n: int) -> dict[str, Any]:
    """The camera by ONVIF; its web service goes down, then its stream server restarts."""
    from gateway.video.daemon import _onvif_errors_as_stream_errors

    def lookup() -> str:
        from adapters.onvif.device import resolve_stream_uri

        with _onvif_errors_as_stream_errors():
            _profile, uri = resolve_stream_uri(
                camera.onvif_url, None, None, profile=None, analysis_width=400, timeout_s=3
            )
        return uri

    with tempfile.TemporaryDirectory() as scratch:
        book = StreamAddressBook(Path(scratch) / "stream-addresses.json")
        sink = Pictures()
        reader = reader_for(with_last_good("bench-cam", lookup, book), {}, True, sink)
        reader.start()
        try:
            if sink.first_after(time.monotonic(), 30) is None:  # ONVIF gave the address
                raise RuntimeError("no pictures from the ONVIF camera")
            camera.stop_onvif()  # from now on ONVIF answers nothing
            values = [outage(camera, sink, 3.0, timeout=120) for _ in range(n)]
        finally:
            camera.start_onvif()
            reader.stop(10)
    got = [v for v in values if v is not None]
    print(f"  onvif down, stream back: {values}", flush=True)
    return {
        "seconds_to_pictures": values,
        "median": round(statistics.median(got), 3) if got else None,
        "max": max(got) if got else None,
        "never": len(values) - len(got),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outages", type=int, default=3, help="outages per length and side")
    parser.add_argument("--down-s", default="3,8,20", help="outage lengths, seconds")
    args = parser.parse_args()
    downs = [float(v) for v in args.down_s.split(",")]
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    with TestCamera() as camera:
        print("baseline: first retry 10 s, backoff to 300 s, no probe")
        baseline = side(
            camera, "baseline", {"reconnect_min_s": 10, "reconnect_max_s": 300}, False,
            downs, args.outages,
        )  # fmt: skip
        print("citygw: first retry 1 s, probe twice a second")
        ours = side(camera, "citygw", {}, True, downs, args.outages)
        print("citygw, camera by ONVIF with its web service down")
        by_onvif = onvif_down(camera, args.outages)
    results = {
        "benchmark": "video_recovery",
        "when": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(v, 2) for v in load_start],
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        },
        "method": (
            "one test camera (GStreamer RTSP server, vtest sub-stream 384x288 at 5 fps), one "
            "CameraReader at a time; the same outages on both sides: SIGKILL the server, keep "
            "it down for the given seconds, start it again on the same port; measured from "
            "the server accepting connections to the next decoded picture"
        ),
        "baseline": {"settings": "reconnect_min_s 10, reconnect_max_s 300, no probe"} | baseline,
        "citygw": {"settings": "reconnect_min_s 1, reconnect_max_s 300, TCP probe every 0.5 s"}
        | ours,
        "citygw_onvif_down": {
            "settings": "camera configured by ONVIF (first address from ONVIF); its web "
            "service then stopped for the outages (3 s each): the stream address comes from "
            "the last good one"
        }
        | by_onvif,
        "target": "pictures again <= 2 s after the stream returns",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
