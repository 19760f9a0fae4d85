"""PTZ (issue 16 §4): the ONVIF adapter against the test device's real SOAP, `PtzControl`
pausing and resuming a camera's rules, and the whole path in `citygw video`: a move away
from the analysis preset keeps a parked-vehicle rule from firing, going back resumes it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from adapters.onvif.ptz import OnvifPtz
from gateway.clock import SYSTEM_CLOCK
from gateway.config import Config
from gateway.contract import PtzAction, PtzCommand, Source, SourceKind, Topics
from gateway.video.daemon import VideoGateway
from gateway.video.ptz import PtzControl, PtzError, PtzPosition, PtzStatus
from gateway.video.testcam.harness import TestCamera
from gateway.video.testcam.onvif_device import OnvifDevice, OnvifServer, StreamProfile
from gateway.video.testcam.onvif_ptz import Position
from tests.video.conftest import StatusWatcher, fast_ingest

CORE = Source(kind=SourceKind.CORE, id="core-1")


def command(action: PtzAction, camera_id: str = "gate-1", **fields: Any) -> PtzCommand:
    return PtzCommand.create(
        source=CORE, camera_id=camera_id, action=action, requested_by="op1", **fields
    )


def _wait(condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(0.05)


@pytest.fixture
def device_server() -> Iterator[OnvifServer]:
    from gateway.video.testcam.harness import free_port

    def factory(base_url: str) -> OnvifDevice:
        return OnvifDevice(
            base_url=base_url,
            profiles=[StreamProfile("main", "mainStream", "rtsp://127.0.0.1:9/main", 768, 576, 10)],
            snapshot_url=f"{base_url}/snapshot.jpg",
            username="admin",
            password="ptz-secret",
        )

    server = OnvifServer(factory, port=free_port(), snapshot=b"")
    server.start()
    yield server
    server.stop()


def _driver(server: OnvifServer, password: str = "ptz-secret") -> OnvifPtz:
    url = f"http://127.0.0.1:{server.port}/onvif/device_service"
    return OnvifPtz(url, "admin", password, timeout_s=3)


# ------------------------------------------------------------------ contract


def test_a_ptz_command_needs_what_its_action_needs() -> None:
    with pytest.raises(ValueError, match="goto_preset needs a preset"):
        command(PtzAction.GOTO_PRESET)
    with pytest.raises(ValueError, match="other than 0"):
        command(PtzAction.CONTINUOUS_MOVE)
    with pytest.raises(ValueError):
        command(PtzAction.RELATIVE_MOVE, pan=1.5)
    assert command(PtzAction.STOP).preset is None
    topics = Topics("citygw/v1")
    assert topics.ptz_command("gate-1") == "citygw/v1/commands/video/gate-1/ptz"


# ------------------------------------------------------------------ adapter, real SOAP


def test_goto_preset_moves_the_device_there_over_time_and_status_says_so(
    device_server: OnvifServer,
) -> None:
    ptz = _driver(device_server)
    assert ptz.status() == PtzStatus(PtzPosition(0.0, 0.0, 0.0), moving=False)
    assert ptz.preset_position("2") == PtzPosition(0.5, -0.2, 0.3)
    ptz.goto_preset("2")
    assert ptz.status().moving  # the head takes its time, as a real one
    _wait(lambda: not ptz.status().moving, 5, "goto finished")
    assert ptz.status().position == PtzPosition(0.5, -0.2, 0.3)
    ptz.relative_move(-0.1, 0.1, -0.3)
    _wait(lambda: not ptz.status().moving, 5, "step finished")
    position = ptz.status().position
    assert position is not None and position.near(PtzPosition(0.4, -0.1, 0.0))
    assert device_server.device.requests.count("GotoPreset") == 1
    assert device_server.device.requests.count("RelativeMove") == 1


def test_a_continuous_move_runs_until_stop_and_ends_by_its_timeout(
    device_server: OnvifServer,
) -> None:
    ptz = _driver(device_server)
    ptz.continuous_move(1.0, 0.0, 0.0, timeout_s=30)
    time.sleep(0.3)
    moving = ptz.status()
    assert moving.moving and moving.position is not None and moving.position.pan > 0
    ptz.stop()
    stopped = ptz.status()
    assert not stopped.moving
    time.sleep(0.3)
    assert ptz.status().position == stopped.position  # it stays where Stop found it
    ptz.continuous_move(0.0, -1.0, 0.0, timeout_s=0.3)  # the device ends it by itself
    _wait(lambda: not ptz.status().moving, 3, "timeout ended the move")


def test_ptz_failures_are_ptz_errors_naming_the_device_never_the_password(
    device_server: OnvifServer,
) -> None:
    with pytest.raises(PtzError, match="no preset '9'"):
        _driver(device_server).goto_preset("9")
    with pytest.raises(PtzError, match="refused the credentials") as refused:
        _driver(device_server, password="wrong").stop()
    assert "wrong" not in refused.value.reason
    device_server.stop()
    started = time.monotonic()
    with pytest.raises(PtzError, match=r"127\.0\.0\.1:\d+ .*cannot connect"):
        _driver(device_server).status()
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------ PtzControl with a fake


class FakePtz:
    """A `PtzDriver` at a preset position, moving in no time; can be made to fail."""

    def __init__(self) -> None:
        self.position = PtzPosition(0.0, 0.0, 0.0)
        self.presets = {"1": PtzPosition(0.0, 0.0, 0.0), "2": PtzPosition(0.5, 0.0, 0.0)}
        self.calls: list[str] = []
        self.fail: str | None = None

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.fail:
            raise PtzError(self.fail)

    def goto_preset(self, preset: str) -> None:
        self._call(f"goto {preset}")
        self.position = self.presets[preset]

    def relative_move(self, pan: float, tilt: float, zoom: float) -> None:
        self._call("relative")
        self.position = PtzPosition(self.position.pan + pan, self.position.tilt + tilt, 0.0)

    def continuous_move(self, pan: float, tilt: float, zoom: float, timeout_s: float) -> None:
        self._call("continuous")
        self.position = PtzPosition(0.3, 0.0, 0.0)

    def stop(self) -> None:
        self._call("stop")

    def status(self) -> PtzStatus:
        return PtzStatus(self.position, moving=False)

    def preset_position(self, preset: str) -> PtzPosition | None:
        return self.presets[preset]


@pytest.fixture
def control() -> Iterator[tuple[PtzControl, FakePtz, list[str]]]:
    fake = FakePtz()
    changes: list[str] = []
    ptz = PtzControl(
        lambda camera_id: fake if camera_id == "gate-1" else None,
        lambda camera_id: "1",
        clock=SYSTEM_CLOCK,
        on_change=changes.append,
        poll_s=0.01,
    )
    ptz.start()
    yield ptz, fake, changes
    ptz.stop()


def test_moving_away_pauses_the_rules_and_the_analysis_preset_resumes_them(
    control: tuple[PtzControl, FakePtz, list[str]],
) -> None:
    ptz, fake, changes = control
    ptz.submit(command(PtzAction.CONTINUOUS_MOVE, pan=0.5))
    _wait(lambda: ptz.paused("gate-1"), 5, "paused")
    assert ptz.faults("gate-1") == {"rules": "off analysis preset 1 (continuous_move)"}
    ptz.submit(command(PtzAction.STOP))
    ptz.submit(command(PtzAction.GOTO_PRESET, preset="2"))
    _wait(lambda: ptz.handled == 3, 5, "handled")
    assert ptz.faults("gate-1") == {"rules": "off analysis preset 1 (goto preset 2)"}
    ptz.submit(command(PtzAction.GOTO_PRESET, preset="1"))
    _wait(lambda: not ptz.paused("gate-1"), 5, "resumed")
    assert ptz.faults("gate-1") == {}
    assert fake.calls == ["continuous", "stop", "goto 2", "goto 1"]
    assert changes.count("gate-1") == 3  # paused, reason changed, resumed


def test_a_refused_command_is_a_ptz_fault_and_a_stale_one_is_dropped(
    control: tuple[PtzControl, FakePtz, list[str]],
) -> None:
    ptz, fake, _ = control
    fake.fail = "127.0.0.1:80 RelativeMove: the device refused the credentials"
    ptz.submit(command(PtzAction.RELATIVE_MOVE, tilt=0.1))
    _wait(lambda: "ptz" in ptz.faults("gate-1"), 5, "fault")
    assert ptz.faults("gate-1")["ptz"].startswith("relative_move: 127.0.0.1:80 RelativeMove")
    assert not ptz.paused("gate-1")  # it did not move
    fake.fail = None
    old = command(PtzAction.RELATIVE_MOVE, tilt=0.1).model_copy(
        update={"ts": SYSTEM_CLOCK.now() - timedelta(seconds=60)}
    )
    ptz.submit(old)
    ptz.submit(command(PtzAction.STOP))
    _wait(lambda: ptz.handled == 2, 5, "handled")
    assert ptz.dropped == 1 and fake.calls == ["relative", "stop"]
    assert ptz.faults("gate-1") == {}  # the stop worked: the fault is over


def test_a_camera_found_away_from_its_preset_at_start_waits() -> None:
    fake = FakePtz()
    fake.position = PtzPosition(0.2, 0.1, 0.0)
    ptz = PtzControl(lambda _c: fake, lambda _c: "1", clock=SYSTEM_CLOCK)
    ptz.start(check=["gate-1"])
    try:
        _wait(lambda: ptz.paused("gate-1"), 5, "paused at start")
        assert ptz.faults("gate-1")["rules"] == "off analysis preset 1 (found at start)"
    finally:
        ptz.stop()


# ------------------------------------------------------------------ the whole path

#: the white van's kerb in the 384x288 sub-stream (as in the full-path detection test)
VAN_ZONE = {"polygon": [[0.82, 0.08], [0.95, 0.08], [0.95, 0.26], [0.82, 0.26]]}
PARK = {"id": "park-van", "type": "dwell", "event_code": "0505", "classes": ["vehicle"],
        "zone": "van", "min_dwell_s": 3}  # fmt: skip


def test_a_camera_moved_off_its_analysis_preset_fires_no_rule_until_it_is_back(
    test_camera: TestCamera,
    make_config: Callable[..., Config],
    status_watcher: StatusWatcher,
) -> None:
    from adapters.mqtt.connection import MqttConnection

    camera = {
        "id": "gate-1",
        "onvif": {
            "url": test_camera.onvif_url,
            "analysis_width": 400,
            "events": False,
            "analysis_preset": "1",
        },
    }
    config = make_config(
        video={
            "analysis_fps": 5,
            "ingest": fast_ingest(),
            "live_view": {"enabled": False},
            "main_stream": {"enabled": False},
            "cameras": [camera],
            "analysis": {
                "models": ["yolox-nano"],
                "cameras": {"gate-1": {"zones": {"van": VAN_ZONE}, "rules": [PARK]}},
            },
        }
    )
    core = MqttConnection(config.mqtt, "test-core-ptz", clean_session=True)
    core.start()
    assert core.wait_connected(15)
    topic = Topics(config.mqtt.topic_root).ptz_command("gate-1")
    gateway = VideoGateway(config)
    try:
        gateway.start()
        assert gateway.pipeline is not None, "analysis did not start"
        core.publish_and_wait(topic, command(PtzAction.RELATIVE_MOVE, pan=0.4).to_json())
        _wait(lambda: gateway.ptz.paused("gate-1"), 15, "rules paused")
        assert test_camera.device.ptz.moves == 1
        time.sleep(10)  # the van stands in its zone all along: a dwell of 3 s would fire
        assert status_watcher.candidates == []
        gate = gateway.supervisor.reader("gate-1")
        assert gate is not None and gate.frames_analysed > 20  # frames came, held back
        paused = [s for s in status_watcher.statuses if "rules" in s.faults]
        assert paused and paused[-1].faults["rules"] == "off analysis preset 1 (relative_move)"

        core.publish_and_wait(topic, command(PtzAction.GOTO_PRESET, preset="1").to_json())
        _wait(lambda: not gateway.ptz.paused("gate-1"), 15, "rules resumed")
        candidates = status_watcher.wait_candidates(1, 40)
        assert candidates and candidates[0].facts["rule_id"] == "park-van"
        assert "rules" not in gateway.faults_of("gate-1")
    finally:
        gateway.stop()
        core.stop(publish_offline=False)
    assert test_camera.device.ptz.position() == (Position(0.0, 0.0, 0.0), False)


def test_only_the_core_may_send_ptz_commands_and_a_gateway_reads_its_own_cameras() -> None:
    from gateway.mqtt_acl import core_grant, video_grant

    topics = Topics("city/v1")
    core = core_grant(topics, "main")
    west = video_grant(topics, "west", ["gate-1"])
    assert "city/v1/commands/video/+/ptz" in core.publish
    assert "city/v1/commands/video/gate-1/ptz" in west.read
    assert not any("ptz" in topic for topic in west.publish)
    assert "city/v1/commands/video/gate-2/ptz" not in west.read


def test_a_camera_check_finds_no_frame_while_the_camera_looks_away(
    make_config: Callable[..., Config],
) -> None:
    from gateway.video.frame import Frame

    camera = {"id": "gate-1", "onvif": {"url": "http://127.0.0.1:9/onvif/device_service",
                                        "analysis_preset": "1", "events": False}}  # fmt: skip
    gateway = VideoGateway(make_config(video={"cameras": [camera]}), analysis=False)
    fake = FakePtz()
    gateway.ptz = PtzControl(lambda _c: fake, lambda _c: "1", clock=SYSTEM_CLOCK, poll_s=0.01)
    frame = Frame(camera_id="gate-1", seq=1, captured_at=SYSTEM_CLOCK.now(), monotonic=0.0,
                  image=np.zeros((4, 4, 3), dtype=np.uint8))  # fmt: skip
    gateway._latest_frame = lambda _c: frame  # type: ignore[method-assign]
    gateway.ptz.start()
    try:
        assert gateway.frame_for_checks("gate-1") is frame
        gateway.ptz.submit(command(PtzAction.RELATIVE_MOVE, pan=0.2))
        _wait(lambda: gateway.ptz.paused("gate-1"), 5, "paused")
        assert gateway.frame_for_checks("gate-1") is None
    finally:
        gateway.ptz.stop()
        gateway.publisher.outbox.close()


def test_a_camera_moved_by_other_means_pauses_and_one_back_home_resumes() -> None:
    fake = FakePtz()
    ptz = PtzControl(
        lambda _c: fake,
        lambda _c: "1",
        clock=SYSTEM_CLOCK,
        check_every_s=0.05,
        to_check=lambda: ["gate-1"],
    )
    ptz.start()
    try:
        time.sleep(0.3)
        assert not ptz.paused("gate-1")  # at its preset: nothing to do
        fake.position = PtzPosition(-0.4, 0.2, 0.0)  # someone used the camera's own page
        _wait(lambda: ptz.paused("gate-1"), 5, "paused by a check")
        assert ptz.faults("gate-1")["rules"] == "off analysis preset 1 (found at a check)"
        fake.position = PtzPosition(0.01, 0.0, 0.0)  # it returned home by itself
        _wait(lambda: not ptz.paused("gate-1"), 5, "resumed by a check")
        assert fake.calls == []  # only looked, never moved it
    finally:
        ptz.stop()
