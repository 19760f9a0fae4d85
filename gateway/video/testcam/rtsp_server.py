#!/usr/bin/python3
"""The test camera's RTSP server: GStreamer's RTSP server serving H.264/H.265 MP4s, looping.

Runs under Debian's system Python (python3-gi, gir1.2-gst-rtsp-server-1.0), NOT the venv:
it imports nothing from citygw. Each ``--mount PATH=FILE`` serves FILE's H.264 access
units (read into memory once) through ``appsrc ! h264parse ! rtph264pay`` with running
timestamps, so the stream is paced in real time by the pipeline clock and loops without
re-encoding; ``--mount-h265 PATH=FILE`` does the same for an H.265 file (``h265parse !
rtph265pay``). Parameter sets are repeated before every IDR (a reconnecting client starts at
the next keyframe). Optional ``--user``/``--password`` require RTSP basic auth.

Prints ``READY <port>`` on stdout once it listens on 127.0.0.1. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import base64
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


class AccessUnit:
    __slots__ = ("data", "delta", "dts", "duration", "pts")

    def __init__(self, data: bytes, pts: int, dts: int, duration: int, delta: bool) -> None:
        self.data = data
        self.pts = pts
        self.dts = dts
        self.duration = duration
        self.delta = delta


def read_access_units(path: str, codec: str = "h264") -> tuple[list[AccessUnit], int]:
    """All access units of an H.264 (``codec`` h264) or H.265 (h265) MP4 (byte-stream, one
    AU per buffer) and its duration (ns)."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux ! {codec}parse config-interval=-1 ! '
        f"video/x-{codec},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units: list[AccessUnit] = []
    while True:
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            break
        buffer = sample.get_buffer()
        ok, info = buffer.map(Gst.MapFlags.READ)
        if not ok:
            continue
        data = bytes(info.data)
        buffer.unmap(info)
        pts = buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else 0
        dts = buffer.dts if buffer.dts != Gst.CLOCK_TIME_NONE else pts
        duration = buffer.duration if buffer.duration != Gst.CLOCK_TIME_NONE else 0
        units.append(
            AccessUnit(
                data, pts, dts, duration, bool(buffer.get_flags() & Gst.BufferFlags.DELTA_UNIT)
            )
        )
    pipeline.set_state(Gst.State.NULL)
    if not units:
        raise SystemExit(f"no {codec} access units in {path}")
    last = units[-1]
    frame = last.duration or (units[1].pts - units[0].pts if len(units) > 1 else 40_000_000)
    return units, last.pts + frame


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """A shared media per mount: one pipeline however many clients watch."""

    def __init__(self, units: list[AccessUnit], loop_ns: int, codec: str = "h264") -> None:
        super().__init__()
        self.units = units
        self.loop_ns = loop_ns
        self.set_shared(True)
        self.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=false "
            f'caps="video/x-{codec},stream-format=byte-stream,alignment=au" '
            f"! {codec}parse config-interval=-1 ! rtp{codec}pay name=pay0 pt=96 "
            "config-interval=-1 )"
        )
        self.connect("media-configure", self._on_media_configure)

    def _on_media_configure(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_child_by_name("src")
        state = {"index": 0, "loop": 0}

        def need_data(src: Gst.Element, _length: int) -> None:
            unit = self.units[state["index"]]
            offset = state["loop"] * self.loop_ns
            buffer = Gst.Buffer.new_wrapped(unit.data)
            buffer.pts = unit.pts + offset
            buffer.dts = unit.dts + offset
            buffer.duration = unit.duration
            if unit.delta:
                buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
            state["index"] += 1
            if state["index"] == len(self.units):
                state["index"] = 0
                state["loop"] += 1
            src.emit("push-buffer", buffer)

        appsrc.connect("need-data", need_data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--mount", action="append", required=True, help="PATH=FILE, e.g. /main=var/data/x.mp4"
    )
    parser.add_argument(
        "--mount-h265", action="append", default=[], help="PATH=FILE of an H.265 MP4"
    )
    parser.add_argument("--user", default=None)
    parser.add_argument("--password", default=None)
    args = parser.parse_args(argv)

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    specs = [(spec, "h264") for spec in args.mount] + [(s, "h265") for s in args.mount_h265]
    for spec, codec in specs:
        path, _, file = spec.partition("=")
        units, loop_ns = read_access_units(file, codec)
        factory = LoopingFactory(units, loop_ns, codec)
        if args.user:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "camera-user, media.factory.access=(boolean)true, "
                    "media.factory.construct=(boolean)true"
                )
            )
            factory.set_permissions(permissions)
        mounts.add_factory(path, factory)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera-user")
        basic = base64.b64encode(f"{args.user}:{args.password or ''}".encode()).decode()
        auth.add_basic(basic, token)
        server.set_auth(auth)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
