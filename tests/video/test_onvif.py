"""ONVIF against the test device: probe, discovery, stream choice, PullPoint events → candidates."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
import pytest
from click.testing import CliRunner

from adapters.onvif.device import (
    OnvifError,
    Profile,
    choose_analysis_profile,
    choose_main_profile,
    probe_device,
    resolve_main_stream_uri,
    resolve_stream_uri,
)
from adapters.onvif.discovery import discover_devices, parse_probe_matches, probe_message
from adapters.onvif.events import EventSource, EventThread
from gateway.cli import cli
from gateway.config import Config
from gateway.contract import CameraState, EvidenceRole
from gateway.video.camera_events import CameraEvent
from gateway.video.daemon import VideoGateway
from gateway.video.testcam.discovery_responder import multicast_problem, probe_match
from gateway.video.testcam.harness import TestCamera, free_port
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifEvent, OnvifServer, StreamProfile
from tests.video.conftest import StatusWatcher, fast_ingest

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"


def test_probe_lists_device_profiles_uris_and_presets(
    make_camera: Callable[..., TestCamera],
) -> None:
    camera = make_camera(username="admin", password="cam-secret")
    result = probe_device(camera.onvif_url, "admin", "cam-secret", timeout_s=5)
    assert result.info.model == "TestCam-1" and result.info.serial == "CITYGW-TEST-0001"
    by_token = {p.token: p for p in result.profiles}
    assert (by_token["main"].width, by_token["main"].height) == (768, 576)
    assert (by_token["sub"].width, by_token["sub"].height) == (384, 288)
    assert by_token["sub"].stream_uri == camera.sub_rtsp_url
    assert by_token["main"].snapshot_uri.endswith("/snapshot.jpg")  # type: ignore[union-attr]
    assert ("1", "gate") in by_token["main"].presets


def test_the_probe_command_prints_the_device_and_never_the_password(
    make_camera: Callable[..., TestCamera],
) -> None:
    camera = make_camera(username="admin", password="cam-secret")
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["cameras", "probe", camera.onvif_url, "--user", "admin", "--timeout", "5"],
        env={"CITYGW_CAMERA_PASSWORD": "cam-secret"},
    )
    assert result.exit_code == 0, result.output
    assert "TestCam-1" in result.output and "384x288 @ 5 fps" in result.output
    assert camera.rtsp_url in result.output and "cam-secret" not in result.output
    wrong = runner.invoke(
        cli,
        ["cameras", "probe", camera.onvif_url, "--user", "admin", "--timeout", "5"],
        env={"CITYGW_CAMERA_PASSWORD": "wrong"},
    )
    assert wrong.exit_code == 1
    assert wrong.output.startswith("探测失败：设备拒绝了用户名或密码（")
    assert "refused the credentials" in wrong.output
    assert "wrong" not in wrong.output.split(":")[-1]


def test_a_configured_camera_is_probed_with_its_own_credentials(
    make_camera: Callable[..., TestCamera], tmp_path: Path
) -> None:
    camera = make_camera(username="admin", password="cam-secret")
    config_file = tmp_path / "citygw.yaml"
    config_file.write_text(
        "video:\n  cameras:\n    - id: gate-3\n      username: admin\n"
        "      password: ${GATE3_PASSWORD}\n"
        f"      onvif: {{url: '{camera.onvif_url}'}}\n"
    )
    result = CliRunner().invoke(
        cli,
        ["-c", str(config_file), "cameras", "probe", "--camera", "gate-3", "--timeout", "5"],
        env={"GATE3_PASSWORD": "cam-secret"},
    )
    assert result.exit_code == 0, result.output
    assert "TestCam-1" in result.output and "cam-secret" not in result.output


def test_probing_nothing_fails_fast_with_a_clear_reason() -> None:
    started = time.monotonic()
    with pytest.raises(OnvifError) as caught:
        probe_device(
            f"http://127.0.0.1:{free_port()}/onvif/device_service", None, None, timeout_s=3
        )
    assert caught.value.kind == "unreachable"
    assert time.monotonic() - started < 10


def test_a_directed_discovery_probe_finds_the_test_camera(test_camera: TestCamera) -> None:
    devices = discover_devices(
        timeout_s=5, target_host="127.0.0.1", target_port=test_camera.discovery_port
    )
    assert [d.xaddrs for d in devices] == [[test_camera.onvif_url]]
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "cameras",
            "discover",
            "--timeout",
            "5",
            "--target",
            f"127.0.0.1:{test_camera.discovery_port}",
        ],
    )
    assert result.exit_code == 0 and test_camera.onvif_url in result.output


def test_a_multicast_discovery_probe_on_loopback_finds_the_test_camera(
    make_camera: Callable[..., TestCamera],
) -> None:
    problem = multicast_problem("127.0.0.1")
    if problem is not None:
        pytest.skip(f"multicast on loopback is not possible here: {problem}")
    camera = make_camera(multicast_interface="127.0.0.1")
    devices = discover_devices(timeout_s=2, address="127.0.0.1")  # to 239.255.255.250:3702
    ours = [d for d in devices if d.xaddrs == [camera.onvif_url]]
    assert len(ours) == 1 and ours[0].responder == "127.0.0.1:3702"  # the multicast listener
    assert ours[0].types == ["http://www.onvif.org/ver10/network/wsdl:NetworkVideoTransmitter"]
    result = CliRunner().invoke(
        cli, ["cameras", "discover", "--timeout", "2", "--address", "127.0.0.1"]
    )
    assert result.exit_code == 0, result.output
    assert camera.onvif_url in result.output
    assert camera._discovery is not None and camera._discovery.multicast_probes >= 2


def test_probe_matches_answer_only_their_own_probe() -> None:
    message_id, _probe = probe_message()
    reply = probe_match(message_id, "urn:uuid:1", "http://127.0.0.1:1/onvif/device_service", [])
    assert len(parse_probe_matches(reply, "127.0.0.1:3702", message_id)) == 1
    assert parse_probe_matches(reply, "127.0.0.1:3702", "urn:uuid:other") == []
    assert parse_probe_matches(b"<not xml", "127.0.0.1:3702", message_id) == []


def _profile(token: str, width: int, encoding: str = "H264") -> Profile:
    return Profile(token, token, encoding, width, width * 3 // 4, 10, 1000)


def test_analysis_uses_the_h264_profile_closest_to_the_wanted_width() -> None:
    profiles = [_profile("main", 1920), _profile("sub", 640), _profile("jpeg", 640, "JPEG")]
    assert choose_analysis_profile(profiles, 704).token == "sub"  # type: ignore[union-attr]
    assert choose_analysis_profile(profiles, 1600).token == "main"  # type: ignore[union-attr]
    assert choose_analysis_profile([], 640) is None


def test_the_main_stream_is_the_largest_profile_bigger_than_the_analysed_one() -> None:
    main, sub = _profile("main", 1920), _profile("sub", 640)
    profiles = [sub, main, _profile("third", 1280), _profile("mjpeg", 2560, "JPEG")]
    assert choose_main_profile(profiles, sub) == main
    assert choose_main_profile(profiles, main) is None  # analysis already reads the largest
    assert choose_main_profile([sub], sub) is None  # one profile: one pull serves all


def test_the_main_stream_uri_is_resolved_beside_the_analysed_one(test_camera: TestCamera) -> None:
    found = resolve_main_stream_uri(
        test_camera.onvif_url,
        None,
        None,
        profile=None,
        main_profile=None,
        analysis_width=400,
        timeout_s=5,
    )
    assert found is not None
    assert found[0].token == "main" and found[1] == test_camera.rtsp_url
    wide = resolve_main_stream_uri(
        test_camera.onvif_url,
        None,
        None,
        profile=None,
        main_profile=None,
        analysis_width=800,
        timeout_s=5,
    )
    assert wide is None  # analysing the main profile already: no second pull
    with pytest.raises(OnvifError) as caught:
        resolve_main_stream_uri(
            test_camera.onvif_url,
            None,
            None,
            profile=None,
            main_profile="hd",
            analysis_width=400,
            timeout_s=5,
        )
    assert caught.value.kind == "no_profile" and "main, sub" in caught.value.reason


def test_the_stream_uri_of_the_sub_stream_is_resolved_for_analysis(test_camera: TestCamera) -> None:
    profile, uri = resolve_stream_uri(
        test_camera.onvif_url, None, None, profile=None, analysis_width=400, timeout_s=5
    )
    assert profile.token == "sub" and uri == test_camera.sub_rtsp_url


def test_pullpoint_subscriptions_renew_resubscribe_and_never_leak(test_camera: TestCamera) -> None:
    events: list[CameraEvent] = []
    thread = EventThread(events.append, timeout_s=5, termination_s=3, pull_timeout_s=1, retry_s=1)
    thread.start()
    try:
        thread.apply([EventSource("cam-1", test_camera.onvif_url, None, None)])
        subscriber = thread.subscribers["cam-1"]
        _wait(lambda: subscriber.active, 15)
        test_camera.emit_event(MOTION, {"IsMotion": "true"})
        _wait(lambda: len(events) == 1, 15)
        _wait(lambda: subscriber.renewals >= 1, 15)  # renewed before the 3 s term ran out
        assert test_camera.device.subscription_count == 1
        test_camera.device._subscriptions.clear()  # the camera forgot us (a reboot)
        _wait(lambda: subscriber.subscriptions >= 2 and subscriber.active, 20)
        _wait(lambda: len(events) == 2, 15)  # the motion still on, re-sent to the new one
        assert (events[1].operation, events[1].data) == ("Initialized", {"IsMotion": "true"})
        test_camera.emit_event(MOTION, {"IsMotion": "false"})
        _wait(lambda: len(events) == 3, 15)
        assert test_camera.device.subscription_count == 1
        thread.apply([])  # camera removed from the configuration: unsubscribe
        assert test_camera.device.subscription_count == 0
    finally:
        thread.stop()
    assert events[0].data == {"IsMotion": "true"} and events[0].topic == MOTION
    assert events[0].source == {"VideoSourceConfigurationToken": "vsc0"}
    assert events[0].operation == "Changed" and events[2].operation == "Changed"


@pytest.fixture
def onvif_only() -> Iterator[OnvifServer]:
    """The test ONVIF device alone (no RTSP server: events and probing need none)."""
    port = free_port()

    def device(base_url: str) -> OnvifDevice:
        return OnvifDevice(
            base_url=base_url,
            profiles=[StreamProfile("main", "main", "rtsp://127.0.0.1:1/main", 768, 576, 10)],
            snapshot_url=f"{base_url}/snapshot.jpg",
            unsupported=frozenset({"GetSnapshotUri", "GetPresets"}),
        )

    server = OnvifServer(device, port=port, snapshot=b"\xff\xd8")
    server.start()
    yield server
    server.stop()


def test_a_device_answering_an_empty_200_to_what_it_lacks_still_probes(
    onvif_only: OnvifServer,
) -> None:
    result = probe_device(
        f"http://127.0.0.1:{onvif_only.port}/onvif/device_service", None, None, timeout_s=5
    )
    (profile,) = result.profiles
    assert profile.stream_uri == "rtsp://127.0.0.1:1/main"
    assert profile.snapshot_uri is None and profile.presets == []  # empty 200s: unsupported


def test_events_go_down_with_the_web_server_and_the_active_alarm_comes_back_as_initialized(
    onvif_only: OnvifServer,
) -> None:
    onvif_only.device.emit(OnvifEvent(PARKING, {"Rule": "r1"}, {"IsInside": "true"}))
    events: list[CameraEvent] = []
    thread = EventThread(events.append, timeout_s=3, termination_s=30, pull_timeout_s=1, retry_s=1)
    thread.start()
    url = f"http://127.0.0.1:{onvif_only.port}/onvif/device_service"
    try:
        thread.apply([EventSource("cam-1", url, None, None)])
        subscriber = thread.subscribers["cam-1"]
        _wait(lambda: len(events) == 1, 15)  # the alarm, active before we subscribed
        onvif_only.stop()  # the web server goes down, the subscription with it
        assert onvif_only.device.subscription_count == 0
        _wait(lambda: not subscriber.active, 15)
        time.sleep(1.5)
        onvif_only.start()
        _wait(lambda: len(events) == 2 and subscriber.active, 20)
        assert onvif_only.device.subscription_count == 1
    finally:
        thread.stop()
    assert [(e.operation, e.data, e.source) for e in events] == [
        ("Initialized", {"IsInside": "true"}, {"Rule": "r1"})
    ] * 2
    assert subscriber.subscriptions == 2 and onvif_only.device.subscription_count == 0


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def gateway_holder() -> Iterator[list[VideoGateway]]:
    holder: list[VideoGateway] = []
    yield holder
    for gateway in holder:
        gateway.stop()


def test_a_camera_rule_event_becomes_a_candidate_with_a_snapshot(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateway_holder: list[VideoGateway],
) -> None:
    camera = make_camera(username="admin", password="cam-secret")
    camera_config: dict[str, Any] = {
        "id": "gate-3",
        "username": "admin",
        "password": "cam-secret",
        "grid_code": "32070390100101",
        "onvif": {
            "url": camera.onvif_url,
            "analysis_width": 400,
            "event_rules": [
                {
                    "topic": PARKING,
                    "data": {"IsInside": "true"},
                    "event_code": "0505",
                    "title": "illegal parking (camera rule)",
                    "cooldown_s": 600,
                },
            ],
        },
    }
    config = make_config(
        video={"ingest": fast_ingest(), "live_view": {"enabled": False}, "cameras": [camera_config]}
    )
    gateway = VideoGateway(config, analysis=False)
    gateway_holder.append(gateway)
    gateway.start()
    online = status_watcher.wait_for("gate-3", CameraState.ONLINE, 30)
    assert online.detail.startswith("384x288")  # the sub-stream was chosen for analysis
    _wait(lambda: gateway.events.subscribers["gate-3"].active, 20)
    _wait(lambda: gateway.supervisor.reader("gate-3").latest_frame is not None, 20)
    camera.emit_event(MOTION, {"IsMotion": "true"})  # logged, no rule
    camera.emit_event(PARKING, {"IsInside": "true"}, {"Rule": "no-parking-1"})
    camera.emit_event(PARKING, {"IsInside": "true"}, {"Rule": "no-parking-1"})  # cooldown
    candidates = status_watcher.wait_candidates(1, 20)
    _wait(lambda: gateway.rules.events_seen >= 3, 15)
    time.sleep(0.5)
    assert len(status_watcher.candidates) == 1
    candidate = candidates[0]
    assert candidate.event_code == "0505" and candidate.location.camera_id == "gate-3"
    assert candidate.location.grid_code == "32070390100101"
    assert candidate.facts["onvif_topic"] == PARKING
    assert [e.role for e in candidate.evidence] == [EvidenceRole.SNAPSHOT, EvidenceRole.CLIP]
    assert candidate.evidence[0].raw_bytes()[:2] == b"\xff\xd8"
    clip = candidate.evidence[1]
    assert clip.media_type == "video/mp4" and clip.size > 10_000
    with av.open(io.BytesIO(clip.raw_bytes())) as container:  # cut from the main stream
        assert {(f.width, f.height) for f in container.decode(video=0)} == {(768, 576)}


def test_probing_works_where_an_event_loop_already_runs(test_camera: TestCamera) -> None:
    """The CLI and the readers call ONVIF synchronously; a loop running in the caller's
    thread (an async host, a browser-driving test session) must not get in the way."""

    async def inside_a_running_loop() -> str:
        return probe_device(test_camera.onvif_url, None, None, timeout_s=5).info.model

    # (in a thread of its own: this test session's main thread may run a loop already)
    with ThreadPoolExecutor(max_workers=1) as executor:
        model = executor.submit(asyncio.run, inside_a_running_loop()).result()
    assert model == "TestCam-1"


def test_a_restart_with_an_alarm_active_makes_one_candidate_and_its_end_updates_it(
    make_camera: Callable[..., TestCamera],
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
    gateway_holder: list[VideoGateway],
) -> None:
    """Seen on a real device: one alarm, two restarts, three candidates. The device re-sends
    the active alarm (Initialized) to each new subscription; it is the same episode."""
    camera = make_camera()
    rule = {"topic": PARKING, "data": {"IsInside": "true"}, "event_code": "0505",
            "cooldown_s": 0}  # fmt: skip
    camera_config = {"id": "gate-3", "onvif": {"url": camera.onvif_url, "event_rules": [rule]}}
    config = make_config(
        video={"ingest": fast_ingest(), "live_view": {"enabled": False}, "cameras": [camera_config]}
    )
    camera.emit_event(PARKING, {"IsInside": "true"}, {"Rule": "no-parking-1"})
    for run in range(3):
        gateway = VideoGateway(config, analysis=False)
        gateway_holder.append(gateway)
        gateway.start()
        _wait(lambda g=gateway: g.rules.events_seen >= 1, 30)  # the alarm, as Initialized
        if run == 0:
            status_watcher.wait_candidates(1, 20)
        if run < 2:
            gateway.stop()
    time.sleep(1.0)
    first_ids = {c.id for c in status_watcher.candidates}
    assert len(first_ids) == 1, status_watcher.candidates  # (the outbox may send one twice)
    (first_id,) = first_ids
    camera.emit_event(PARKING, {"IsInside": "false"}, {"Rule": "no-parking-1"})
    _wait(lambda: len({c.id for c in status_watcher.candidates}) == 2, 20)
    update = next(c for c in status_watcher.candidates if c.id != first_id)
    first = next(c for c in status_watcher.candidates if c.id == first_id)
    assert update.facts["update_of"] == first_id
    assert update.facts["track_id"] == first.facts["track_id"]
    assert update.facts["duration_s"] > 0 and update.facts["ended_at"] > first.facts["event_time"]
    # the alarm's state is retained: a consumer that comes later reads the end at once
    later = StatusWatcher(config)
    try:
        _wait(lambda: bool(later.events), 10)
        ((topic, state),) = later.events
    finally:
        later.stop()
    assert (
        topic
        == "citygw/v1/cameras/gate-3/events/RuleEngine/FieldDetector/ObjectsInside/Rule=no-parking-1"
    )
    assert state.active is False and state.candidate_id == first_id
    assert state.duration_s == update.facts["duration_s"]
