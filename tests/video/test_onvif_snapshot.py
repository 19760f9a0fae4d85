"""Snapshot URIs through Media2 where the device has it (issue 16 §4), Media1 as fallback;
``citygw dev camera --media2 --http-digest`` serves such a device."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from adapters.onvif import media2
from adapters.onvif.device import OnvifError, probe_device
from adapters.onvif.model import MEDIA2
from gateway.video.testcam.harness import free_port
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifServer, StreamProfile
from tests.conftest import REPO_ROOT

S = 'xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
TR2 = 'xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"'
JPEG = b"\xff\xd8\xff\xe0test-snapshot\xff\xd9"


def _answer(body: str) -> bytes:
    return f"<s:Envelope {S} {TR2}><s:Body>{body}</s:Body></s:Envelope>".encode()


def test_a_media2_snapshot_answer_gives_its_http_address() -> None:
    answer = media2.read_answer(
        200,
        _answer(
            "<tr2:GetSnapshotUriResponse><tr2:Uri>http://10.0.0.5/snap.jpg?ch=1</tr2:Uri>"
            "</tr2:GetSnapshotUriResponse>"
        ),
        "cam",
    )
    uri = media2.stream_uri_from_answer(answer, "cam", "GetSnapshotUriResponse")
    assert uri == "http://10.0.0.5/snap.jpg?ch=1"
    assert "<tr2:ProfileToken>a&amp;b</tr2:ProfileToken>" in media2.get_snapshot_uri_body("a&b")
    with pytest.raises(OnvifError, match="not GetSnapshotUriResponse"):
        stream = media2.read_answer(
            200, _answer("<tr2:GetStreamUriResponse><tr2:Uri>rtsp://x/</tr2:Uri>"
                         "</tr2:GetStreamUriResponse>"), "cam"
        )  # fmt: skip
        media2.stream_uri_from_answer(stream, "cam", "GetSnapshotUriResponse")


def _device(media2_faults: frozenset[str]) -> Iterator[OnvifServer]:
    def device(base_url: str) -> OnvifDevice:
        return OnvifDevice(
            base_url=base_url,
            profiles=[
                StreamProfile("main", "main", "rtsp://127.0.0.1:1/main", 768, 576, 10),
                StreamProfile(
                    "hevc", "h265", "rtsp://127.0.0.1:1/hevc", 384, 288, 5, 200, "H265", True
                ),
            ],
            snapshot_url=f"{base_url}/snapshot.jpg",
            username="admin",
            password="cam-secret",
            media2=True,
            media2_faults=media2_faults,
        )

    server = OnvifServer(device, port=free_port(), snapshot=JPEG)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def media2_device() -> Iterator[OnvifServer]:
    yield from _device(frozenset())


@pytest.fixture
def media2_snapshot_failing() -> Iterator[OnvifServer]:
    yield from _device(frozenset({"GetSnapshotUri"}))


def _url(server: OnvifServer) -> str:
    return f"http://127.0.0.1:{server.port}/onvif/device_service"


def test_a_media2_device_gives_snapshot_uris_through_media2(media2_device: OnvifServer) -> None:
    result = probe_device(_url(media2_device), "admin", "cam-secret", timeout_s=5)
    assert [(p.token, p.media) for p in result.profiles] == [("main", MEDIA2), ("hevc", MEDIA2)]
    snapshot = f"http://127.0.0.1:{media2_device.port}/snapshot.jpg"
    assert [p.snapshot_uri for p in result.profiles] == [snapshot, snapshot]
    requests = media2_device.device.requests
    assert requests.count("tr2:GetSnapshotUri") == 2 and "GetSnapshotUri" not in requests
    # the address gives the picture (the H.265 profile Media1 cannot name has one too)
    with urllib.request.urlopen(snapshot, timeout=5) as answer:
        assert answer.read() == JPEG


def test_a_failing_media2_snapshot_falls_back_to_media1(
    media2_snapshot_failing: OnvifServer,
) -> None:
    result = probe_device(_url(media2_snapshot_failing), "admin", "cam-secret", timeout_s=5)
    main, hevc = result.profiles
    assert main.media == MEDIA2  # listed by Media2; only its snapshot came from Media1
    assert main.snapshot_uri == f"http://127.0.0.1:{media2_snapshot_failing.port}/snapshot.jpg"
    assert hevc.snapshot_uri is None  # Media1 does not know the H.265 profile
    requests = media2_snapshot_failing.device.requests
    assert requests.count("tr2:GetSnapshotUri") == 2 and requests.count("GetSnapshotUri") == 2


def test_the_dev_camera_serves_media2_with_http_digest() -> None:
    onvif_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gateway", "dev", "camera", "--media2", "--http-digest",
            "--user", "admin", "--onvif-port", str(onvif_port),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "CITYGW_CAMERA_PASSWORD": "cam-secret"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            printed.append(line)
            if line.startswith("onvif"):
                break
        text = "".join(printed)
        assert re.search(r"rtsp\s+rtsp://\S+/hevc\s+\(H\.265", text), text
        url = f"http://127.0.0.1:{onvif_port}/onvif/device_service"
        assert f"onvif  {url} (HTTP Digest)" in text
        result = probe_device(url, "admin", "cam-secret", timeout_s=5)
        assert result.media2 and "hevc" in [p.token for p in result.profiles]
        with pytest.raises(OnvifError) as refused:
            probe_device(url, "admin", "wrong", timeout_s=5)
        assert refused.value.kind == "unauthorized"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_http_digest_without_a_user_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "dev", "camera", "--http-digest"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--http-digest needs --user" in result.stderr
