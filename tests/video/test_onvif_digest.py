"""Devices that demand HTTP Digest instead of a WS-Security UsernameToken (issue 16 §4):
they answer 401 with ``WWW-Authenticate: Digest``; every ONVIF call (device, Media1,
Media2, events, PTZ) answers the challenge and goes through, against the test device."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from adapters.onvif.device import OnvifError, probe_device, resolve_stream_uri
from adapters.onvif.events import EventSource, EventThread
from adapters.onvif.ptz import OnvifPtz
from gateway.config import Config
from gateway.contract import CameraState
from gateway.video.camera_events import CameraEvent
from gateway.video.daemon import VideoGateway
from gateway.video.testcam.harness import TestCamera, free_port
from gateway.video.testcam.http_digest import (
    REALM,
    DigestGuard,
    expected_response,
    parse_authorization,
)
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifEvent, OnvifServer, StreamProfile
from tests.video.conftest import StatusWatcher, fast_ingest

PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"


def _server(*, http_digest: bool) -> OnvifServer:
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
            http_digest=http_digest,
        )

    server = OnvifServer(device, port=free_port(), snapshot=b"\xff\xd8")
    server.start()
    return server


@pytest.fixture
def digest_device() -> Iterator[OnvifServer]:
    """The test device alone, demanding HTTP Digest (no RTSP: probing needs none)."""
    server = _server(http_digest=True)
    yield server
    server.stop()


def _url(server: OnvifServer) -> str:
    return f"http://127.0.0.1:{server.port}/onvif/device_service"


def test_the_test_device_checks_a_digest_answer_against_the_password() -> None:
    guard = DigestGuard("admin", "cam-secret")
    nonce = parse_authorization(guard.challenge().replace("Digest", "Digest username=x,", 1))
    assert nonce is not None and nonce["realm"] == REALM and nonce["qop"] == "auth"
    fields = {
        "username": "admin",
        "realm": REALM,
        "nonce": nonce["nonce"],
        "uri": "/onvif/device_service",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "abc",
    }

    def header(password: str, **changed: str) -> str:
        used = {**fields, **changed}
        response = expected_response(
            used, method="POST", username="admin", password=password, realm=REALM
        )
        quoted = ", ".join(f'{k}="{v}"' for k, v in used.items())
        return f'Digest {quoted}, response="{response}"'

    assert guard.allows(header("cam-secret"), "POST", "/onvif/device_service")
    assert not guard.allows(header("wrong"), "POST", "/onvif/device_service")
    assert not guard.allows(header("cam-secret"), "POST", "/onvif/media_service")  # other uri
    assert not guard.allows(header("cam-secret", nonce="f00d"), "POST", "/onvif/device_service")
    assert not guard.allows("Basic YWRtaW46Y2FtLXNlY3JldA==", "POST", "/onvif/device_service")
    assert not guard.allows(None, "POST", "/onvif/device_service")


def test_a_digest_device_is_probed_through_media2_and_media1_after_its_challenge(
    digest_device: OnvifServer,
) -> None:
    result = probe_device(_url(digest_device), "admin", "cam-secret", timeout_s=5)
    device = digest_device.device
    assert device.digest is not None and device.digest.challenges >= 1  # it did demand Digest
    assert result.media2 and result.media2_error is None  # Media2 answered the challenge too
    assert [(p.token, p.encoding) for p in result.profiles] == [("main", "H264"), ("hevc", "H265")]
    assert result.profiles[1].stream_uri == "rtsp://127.0.0.1:1/hevc"
    for operation in ("GetServices", "GetDeviceInformation", "tr2:GetProfiles"):
        assert operation in device.requests  # served: handle() runs only once Digest passed
    # the same device through Media1 only (stream URIs of a profile Media1 lists)
    profile, uri = resolve_stream_uri(
        _url(digest_device), "admin", "cam-secret", profile="main", analysis_width=400, timeout_s=5
    )
    assert (profile.token, uri) == ("main", "rtsp://127.0.0.1:1/main")


def test_a_wrong_password_on_a_digest_device_is_unauthorized_and_never_shown(
    digest_device: OnvifServer,
) -> None:
    with pytest.raises(OnvifError) as caught:
        probe_device(_url(digest_device), "admin", "not-the-password", timeout_s=5)
    assert caught.value.kind == "unauthorized"
    assert "not-the-password" not in str(caught.value)
    assert f"127.0.0.1:{digest_device.port}" in str(caught.value)
    assert "GetServices" not in digest_device.device.requests  # nothing got past the 401


def test_a_device_without_digest_sees_no_authorization_header() -> None:
    server = _server(http_digest=False)
    try:
        result = probe_device(_url(server), "admin", "cam-secret", timeout_s=5)
        assert result.media2 and len(result.profiles) == 2  # WS-Security alone, as before
    finally:
        server.stop()


def test_events_and_ptz_of_a_digest_device_work(digest_device: OnvifServer) -> None:
    device = digest_device.device
    device.emit(OnvifEvent(PARKING, {"Rule": "r1"}, {"IsInside": "true"}))
    events: list[CameraEvent] = []
    health: list[str] = []
    lock = threading.Lock()

    def on_health(_camera: str, fault: str) -> None:
        with lock:
            health.append(fault)

    thread = EventThread(
        events.append,
        timeout_s=3,
        termination_s=3,
        pull_timeout_s=1,
        retry_s=1,
        on_health=on_health,
    )
    thread.start()
    try:
        thread.apply([EventSource("cam-1", _url(digest_device), "admin", "cam-secret")])
        _wait(lambda: len(events) >= 1, 15)
        subscriber = thread.subscribers["cam-1"]
        _wait(lambda: subscriber.renewals >= 1, 15)  # Renew goes to the subscription's address
        device.emit(OnvifEvent(PARKING, {"Rule": "r1"}, {"IsInside": "false"}))
        _wait(lambda: len(events) >= 2, 15)
        assert health == [""] and subscriber.subscriptions == 1
    finally:
        thread.stop()
    assert [e.data for e in events[:2]] == [{"IsInside": "true"}, {"IsInside": "false"}]
    assert device.subscription_count == 0  # Unsubscribe went through Digest as well

    ptz = OnvifPtz(_url(digest_device), "admin", "cam-secret", timeout_s=5)
    assert ptz.status().position == ptz.preset_position("1")  # the head rests at preset 1
    ptz.goto_preset("2")
    assert device.requests.count("GotoPreset") == 1


def test_a_camera_demanding_digest_streams_and_subscribes_in_the_gateway(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
) -> None:
    camera = make_camera(username="admin", password="cam-secret", http_digest=True)
    video = {
        "ingest": fast_ingest(),
        "live_view": {"enabled": False},
        "main_stream": {"enabled": False},
        "cameras": [
            {
                "id": "gate-7",
                "username": "admin",
                "password": "cam-secret",
                "onvif": {"url": camera.onvif_url, "analysis_width": 400},
            }
        ],
    }
    gateway = VideoGateway(make_config(video=video), analysis=False)
    gateway.start()
    try:
        online = status_watcher.wait_for("gate-7", CameraState.ONLINE, 30)
        assert online.faults == {}
        _wait(lambda: gateway.events.subscribers["gate-7"].active, 20)
        assert camera.device.digest is not None and camera.device.digest.challenges >= 1
        assert camera.device.subscription_count == 1
        assert "events" not in gateway.faults_of("gate-7")
    finally:
        gateway.stop()


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
