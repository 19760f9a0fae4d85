"""`citygw video` as a process: it runs from a config file, reloads cameras on SIGHUP, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from gateway.config import Config
from gateway.contract import CameraState
from gateway.video.testcam.harness import REPO_ROOT, TestCamera
from tests.video.conftest import StatusWatcher, fast_ingest


def _write(path: Path, config: Config, cameras: list[dict[str, str]]) -> None:
    document = {
        "instance": config.instance,
        "state_dir": str(config.state_dir),
        "mqtt": {"host": config.mqtt.host, "port": config.mqtt.port},
        "logging": {"level": "INFO"},
        "video": {
            "ingest": fast_ingest(),
            "live_view": {"enabled": False},
            "analysis": {"enabled": False},
            "cameras": cameras,
        },
    }
    path.write_text(yaml.safe_dump(document))


def test_the_daemon_adds_a_camera_on_sighup_and_stops_cleanly_on_sigterm(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    tmp_path: Path,
) -> None:
    config = make_config()
    config_file = tmp_path / "citygw.yaml"
    first = {"id": "cam-a", "rtsp_url": test_camera.rtsp_url}
    _write(config_file, config, [first])
    log_file = (tmp_path / "video.log").open("wb")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(30)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "2000000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "-c", str(config_file), "video"],
        cwd=REPO_ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        assert b"READY=1" in notify.recv(4096)  # systemd's Type=notify start-up
        status_watcher.wait_for("cam-a", CameraState.ONLINE, 30)
        messages = [notify.recv(4096) for _ in range(3)]
        assert any(b"WATCHDOG=1" in m for m in messages)
        _write(config_file, config, [first, {"id": "cam-b", "rtsp_url": test_camera.sub_rtsp_url}])
        process.send_signal(signal.SIGHUP)
        status_watcher.wait_for("cam-b", CameraState.ONLINE, 30)
        assert process.poll() is None  # no restart: the same process
        mark = len(status_watcher.statuses)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        stopped = {
            s.camera_id
            for s in status_watcher.statuses[mark:]
            if s.state == CameraState.OFFLINE and s.detail == "stopped"
        }
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log_file.close()
        notify.close()
    log = (tmp_path / "video.log").read_text()
    assert "SIGHUP: reloading cameras" in log
    assert stopped == {"cam-a", "cam-b"}, log[-3000:]
