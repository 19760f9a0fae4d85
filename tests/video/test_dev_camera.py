"""``citygw dev camera --mount PATH=FILE`` serves any stream at any path, as a stand-in for
the stream of any ONVIF device."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from gateway.video.testcam.harness import DATA_DIR
from gateway.video.testcam.staged import read_frames, write_clip
from tests.conftest import REPO_ROOT


def test_the_dev_camera_serves_an_extra_mount_path(tmp_path: Path) -> None:
    vtest = DATA_DIR / "vtest.avi"
    if not vtest.is_file():
        pytest.fail(f"{vtest} missing: run scripts/setup.sh")
    clip = tmp_path / "gate-7.mp4"
    write_clip(iter(read_frames(vtest, 30)), clip)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "dev", "camera", "--mount", f"/Streaming/101={clip}"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"rtsp\s+(rtsp://\S+/Streaming/101)", line)
            url = found.group(1) if found else None
        assert url is not None, "the camera did not print the extra mount's address"
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=10) as container:
            frames = []
            for frame in container.decode(video=0):
                frames.append(frame)
                if len(frames) >= 5:
                    break
        assert (frames[0].width, frames[0].height) == (768, 576)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_a_mount_that_is_not_a_path_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "dev", "camera", "--mount", "Streaming=x.mp4"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "give /PATH=FILE" in result.stderr
