"""`TestCamera`: a real RTSP server and an ONVIF device on loopback, for tests and the demo.

The RTSP server is GStreamer's (``rtsp_server.py`` under Debian's system Python), a child
process that `kill()` ends with SIGKILL and `restart()` starts again on the same port.
The ONVIF device (``onvif_device.py``) runs in this process on its own thread and points
at that RTSP server: a main profile (768x576, 10 fps) for evidence and live view, and a
sub profile (384x288, 5 fps: the analysis rate) that the gateway analyses.

    with TestCamera() as cam:
        cam.rtsp_url, cam.sub_rtsp_url, cam.onvif_url
        cam.emit_event("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": "true"})
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from gateway.video.testcam.discovery_responder import DiscoveryResponder
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifEvent, OnvifServer, StreamProfile

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = Path(os.environ.get("CITYGW_VIDEO_DATA", REPO_ROOT / "var" / "data"))
MAIN_VIDEO = DATA_DIR / "vtest-h264.mp4"
SUB_VIDEO = DATA_DIR / "vtest-h264-sub5.mp4"  # 384x288 at 5 fps (the analysis rate)
#: the sub-stream in H.265, made from SUB_VIDEO on first use (a Media2 camera's /hevc)
HEVC_VIDEO = DATA_DIR / "vtest-h265-sub5.mp4"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = os.environ.get("CITYGW_SYSTEM_PYTHON", "/usr/bin/python3")


class TestCameraError(RuntimeError):
    """The test camera could not start (missing video, GStreamer, or a port)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_hevc_video() -> Path:
    """`HEVC_VIDEO`, encoded from `SUB_VIDEO` with ffmpeg's libx265 when missing (an IDR
    every second, no B-frames; about a second of work, once)."""
    if HEVC_VIDEO.exists() and HEVC_VIDEO.stat().st_mtime >= SUB_VIDEO.stat().st_mtime:
        return HEVC_VIDEO
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise TestCameraError("ffmpeg missing (apt package ffmpeg): no H.265 test stream")
    partial = HEVC_VIDEO.with_name(f".{HEVC_VIDEO.name}.{os.getpid()}.mp4")
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-i", str(SUB_VIDEO), "-an", "-c:v", "libx265", "-preset", "ultrafast"]
    command += ["-x265-params", "keyint=5:min-keyint=5:bframes=0:scenecut=0:log-level=error"]
    command += ["-pix_fmt", "yuv420p", "-tag:v", "hvc1", str(partial)]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise TestCameraError(f"cannot encode {HEVC_VIDEO.name}: {done.stderr[-300:]!r}")
    partial.replace(HEVC_VIDEO)  # atomic: tests starting together never read half a file
    return HEVC_VIDEO


def _first_frame_jpeg(path: Path) -> bytes:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok:
        raise TestCameraError(f"cannot read a frame of {path}")
    ok, encoded = cv2.imencode(".jpg", image)
    return encoded.tobytes()


class TestCamera:
    """One simulated ONVIF camera (``__test__ = False`` keeps pytest from collecting it)."""

    __test__ = False

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        rtsp_port: int | None = None,
        onvif_port: int | None = None,
        log_dir: Path | None = None,
        multicast_interface: str | None = None,
        mounts: dict[str, Path] | None = None,
        sub_claims: tuple[int, int] = (384, 288),
        media2: bool = False,
        media2_faults: frozenset[str] = frozenset(),
        http_digest: bool = False,
    ) -> None:
        """``mounts``: more streams beside /main and /sub, mount path -> H.264 MP4 file
        (e.g. a staged scene, `gateway.video.testcam.staged`); ``media2``: the device also
        offers Media2 (Profile T), as an H.265 camera does: main and sub through both
        services, and an H.265 sub-stream (`hevc_rtsp_url`, 384x288, 5 fps) only Media2
        lists; ``media2_faults``: Media2 operations it answers with a fault; ``http_digest``:
        its ONVIF requests and snapshot need HTTP Digest (401 with a Digest challenge)
        instead of a WS-Security UsernameToken, as many real cameras do."""
        for video in (MAIN_VIDEO, SUB_VIDEO):
            if not video.exists():
                raise TestCameraError(
                    f"{video} missing: run scripts/setup.sh (scripts/setup.d/15-vtest-h264.sh)"
                )
        if not Path(SYSTEM_PYTHON).exists():
            raise TestCameraError(f"{SYSTEM_PYTHON} missing (Debian's python3 with python3-gi)")
        self.username = username
        self.password = password
        self.rtsp_port = rtsp_port or free_port()
        self.onvif_port = onvif_port or free_port()
        self.log_dir = log_dir
        self.multicast_interface = multicast_interface
        self.mounts = dict(mounts or {})
        #: the size the ONVIF sub profile says its stream has (the stream is 384x288: a
        #: device may say otherwise, as a real one said 640x360)
        self.sub_claims = sub_claims
        self.media2 = media2
        self.media2_faults = media2_faults
        self.http_digest = http_digest
        for mount, video in self.mounts.items():
            if not mount.startswith("/") or mount in ("/main", "/sub", "/hevc"):
                raise TestCameraError(
                    f"mount {mount!r}: a path like /staged, not /main, /sub or /hevc"
                )
            if not Path(video).is_file():
                raise TestCameraError(f"mount {mount}: {video} missing")
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._onvif: OnvifServer | None = None
        self._discovery: DiscoveryResponder | None = None

    # ---------------------------------------------------------------- addresses
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def rtsp_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}/main"

    def url_of(self, mount: str) -> str:
        """The RTSP address of one of the extra ``mounts``."""
        if mount not in self.mounts:
            raise TestCameraError(f"no mount {mount} (mounts: {sorted(self.mounts)})")
        return f"rtsp://127.0.0.1:{self.rtsp_port}{mount}"

    @property
    def sub_rtsp_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.rtsp_port}/sub"

    @property
    def hevc_rtsp_url(self) -> str:
        """The H.265 sub-stream a ``media2`` camera serves (listed by Media2 only)."""
        return f"rtsp://127.0.0.1:{self.rtsp_port}/hevc"

    @property
    def onvif_url(self) -> str:
        return f"http://127.0.0.1:{self.onvif_port}/onvif/device_service"

    @property
    def discovery_port(self) -> int:
        """UDP port on 127.0.0.1 answering (directed) WS-Discovery probes."""
        if self._discovery is None:
            raise TestCameraError("the test camera is not started")
        return self._discovery.port

    @property
    def device(self) -> OnvifDevice:
        if self._onvif is None:
            raise TestCameraError("the test camera is not started")
        return self._onvif.device

    @property
    def rtsp_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def rtsp_pid(self) -> int | None:
        return self._process.pid if self.rtsp_running and self._process else None

    # ---------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 30.0) -> TestCamera:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()  # no server process or thread left behind by a half start
            raise
        return self

    def _start(self, timeout: float) -> None:
        self._start_rtsp(timeout)
        if self._onvif is None:
            snapshot = _first_frame_jpeg(MAIN_VIDEO)
            user, password = self.username, self.password
            main_url, sub_url, hevc_url = self.rtsp_url, self.sub_rtsp_url, self.hevc_rtsp_url
            port, sub_claims, media2 = self.onvif_port, self.sub_claims, self.media2
            media2_faults, http_digest = self.media2_faults, self.http_digest

            def factory(base_url: str) -> OnvifDevice:
                return OnvifDevice(
                    base_url=base_url,
                    profiles=[
                        StreamProfile("main", "mainStream", main_url, 768, 576, 10, 1300),
                        StreamProfile("sub", "subStream", sub_url, *sub_claims, 5, 300),
                        *(
                            [
                                StreamProfile(
                                    "hevc",
                                    "h265Stream",
                                    hevc_url,
                                    384,
                                    288,
                                    5,
                                    200,
                                    "H265",
                                    media2_only=True,
                                )
                            ]
                            if media2
                            else []
                        ),
                    ],
                    snapshot_url=f"http://127.0.0.1:{port}/snapshot.jpg",
                    username=user,
                    password=password,
                    media2=media2,
                    media2_faults=media2_faults,
                    http_digest=http_digest,
                )

            self._onvif = OnvifServer(factory, port=self.onvif_port, snapshot=snapshot)
            self._onvif.start()
            self._discovery = DiscoveryResponder(
                self.onvif_url, multicast_interface=self.multicast_interface
            )
            self._discovery.start()

    def _start_rtsp(self, timeout: float) -> None:
        with self._lock:
            if self.rtsp_running:
                return
            command = [
                SYSTEM_PYTHON,
                str(SERVER_SCRIPT),
                "--port",
                str(self.rtsp_port),
                "--mount",
                f"/main={MAIN_VIDEO}",
                "--mount",
                f"/sub={SUB_VIDEO}",
            ]
            for mount, video in self.mounts.items():
                command += ["--mount", f"{mount}={video}"]
            if self.media2:
                command += ["--mount-h265", f"/hevc={ensure_hevc_video()}"]
            if self.username:
                command += ["--user", self.username, "--password", self.password or ""]
            stderr: IO[bytes] | int = subprocess.DEVNULL
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                stderr = open(self.log_dir / "rtsp-server.log", "ab")  # noqa: SIM115
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
            self._process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=env,
            )
            if not isinstance(stderr, int):
                stderr.close()
            process = self._process
        assert process.stdout is not None
        ready: list[bytes] = []
        reader = threading.Thread(
            target=lambda: ready.append(process.stdout.readline()),  # type: ignore[union-attr]
            name="testcam.rtsp.ready",
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if not ready or not ready[0].startswith(b"READY"):
            self.kill()
            raise TestCameraError(
                f"the RTSP test server did not start within {timeout}s "
                f"(got {ready[0][:200] if ready else b''!r}); is gir1.2-gst-rtsp-server-1.0 installed?"
            )
        process.stdout.close()

    def kill(self) -> None:
        """SIGKILL the RTSP server (a camera losing power); ONVIF stays up."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart(self, timeout: float = 30.0) -> None:
        """Start the RTSP server again on the same port (after `kill`)."""
        self.kill()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._start_rtsp(max(1.0, deadline - time.monotonic()))
                return
            except TestCameraError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # the port may still be held by the dying process

    def stop_onvif(self) -> None:
        """The camera's web server goes down (RTSP stays up): ONVIF calls fail, and the
        event subscriptions it held are gone; alarm states stay with the camera."""
        if self._onvif is None:
            raise TestCameraError("the test camera is not started")
        self._onvif.stop()

    def start_onvif(self) -> None:
        """The web server is back on the same port (after `stop_onvif`)."""
        if self._onvif is None:
            raise TestCameraError("the test camera is not started")
        self._onvif.start()

    def stop_events(self) -> None:
        """The camera's event service goes down alone (its subscriptions are gone); the
        web server, media and PTZ answer on, RTSP streams on."""
        self.device.set_events_available(False)

    def start_events(self) -> None:
        """The event service is back (after `stop_events`): new subscriptions work."""
        self.device.set_events_available(True)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None
        if self._onvif is not None:
            self._onvif.stop()
            self._onvif = None
        if self._discovery is not None:
            self._discovery.stop()
            self._discovery = None

    def __enter__(self) -> TestCamera:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- events
    def emit_event(
        self,
        topic: str,
        data: dict[str, str],
        source: dict[str, str] | None = None,
        operation: str = "Changed",
    ) -> None:
        """Raise an ONVIF event (e.g. the camera's own motion or parking rule firing); its
        state is re-sent as ``Initialized`` to every later subscription."""
        self.device.emit(
            OnvifEvent(
                topic=topic,
                source=source or {"VideoSourceConfigurationToken": "vsc0"},
                data=data,
                operation=operation,
            )
        )


def gstreamer_available() -> bool:
    """Whether the system Python can load GStreamer's RTSP server (for skip messages)."""
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("true") is None:
        return False
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0');"
            "from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0
