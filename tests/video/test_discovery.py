"""WS-Discovery with no address configured: a probe out of every interface that can
multicast, loopback included. Tests probe only this machine's own loopback addresses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.onvif.discovery import discover_devices
from gateway.video.testcam.discovery_responder import multicast_problem
from gateway.video.testcam.harness import TestCamera


def test_every_interface_that_can_multicast_is_found_loopback_included() -> None:
    from adapters.onvif.discovery import multicast_interfaces

    assert ("lo", "127.0.0.1") in multicast_interfaces()


def test_a_probe_out_of_several_interfaces_reads_the_answers_of_all(
    make_camera: Callable[..., TestCamera],
) -> None:
    problem = multicast_problem("127.0.0.1")
    if problem is not None:
        pytest.skip(f"multicast on loopback is not possible here: {problem}")
    camera = make_camera(multicast_interface="127.0.0.1")
    # only this machine's own addresses are probed in tests: loopback, twice over two sockets
    devices = discover_devices(timeout_s=2, addresses=["127.0.0.1", "127.0.0.2"])
    ours = [d for d in devices if d.xaddrs == [camera.onvif_url]]
    assert len(ours) == 1  # answered on both sockets, listed once


def test_discover_add_writes_the_cameras_found_as_a_configuration_snippet(
    make_camera: Callable[..., TestCamera], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    import yaml
    from click.testing import CliRunner

    from gateway.cli import cli

    camera = make_camera()
    snippet = tmp_path / "cameras.yaml"
    command = ["cameras", "discover", "--timeout", "5", "--target",
               f"127.0.0.1:{camera.discovery_port}", "--add", str(snippet),
               "--username", "admin", "--password-env", "CITYGW_CAM_PASSWORD"]  # fmt: skip
    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert "新增摄像头 1 台" in first.output
    (entry,) = yaml.safe_load(snippet.read_text())["video"]["cameras"]
    assert entry["onvif"] == {"url": camera.onvif_url}
    assert entry["username"] == "admin" and entry["password"] == "${CITYGW_CAM_PASSWORD}"
    again = CliRunner().invoke(cli, command)  # run again: the camera is known
    assert again.exit_code == 0 and "新增摄像头 0 台（无新增）" in again.output
    assert len(yaml.safe_load(snippet.read_text())["video"]["cameras"]) == 1
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check", str(snippet)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CITYGW_CAM_PASSWORD": "secret-1"},
    )
    assert checked.returncode == 0, checked.stderr
    assert "secret-1" not in snippet.read_text()


def test_camera_ids_come_from_the_name_scope_or_the_address_and_never_collide() -> None:
    from gateway.video.camera_snippet import camera_id_for, merge_cameras, scopes_of

    said = scopes_of(
        ["onvif://www.onvif.org/name/Gate_3%20North", "onvif://www.onvif.org/location/Lianyungang"]
    )
    assert said == {"name": "Gate 3 North", "location": "Lianyungang"}
    taken: set[str] = set()
    assert camera_id_for("Gate 3 North", "http://10.0.0.5/onvif", taken) == "gate-3-north"
    assert camera_id_for("Gate 3 North", "http://10.0.0.6/onvif", taken) == "gate-3-north-2"
    assert camera_id_for("北门", "http://10.0.0.7/onvif", taken) == "cam-10-0-0-7"
    document, added = merge_cameras(
        None,
        [(["http://10.0.0.8/onvif/device_service"], [])],
        username=None,
        password_env="X",
    )
    assert added == ["cam-10-0-0-8"] and "password" not in document["video"]["cameras"][0]
