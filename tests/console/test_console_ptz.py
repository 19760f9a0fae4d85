"""The camera wall's PTZ buttons and a camera's parts in Chinese: an operator holds an arrow
(a continuous move, then a stop on release) and goes to a preset; the commands reach MQTT
as the video gateway reads them; a dispatcher gets no buttons; a camera whose rules are
paused and whose events are down says so."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway import bootstrap
from gateway.contract import (
    CameraState,
    CameraStatus,
    PtzAction,
    PtzCommand,
    Source,
    SourceKind,
    parse_message,
)
from tests.console.conftest import RunningCore, screenshot
from tests.console.test_console_live import core  # noqa: F401  (the fixture)


class CommandLog:
    """Every PTZ command the core publishes, in order (a video gateway's subscription)."""

    def __init__(self, running: RunningCore) -> None:
        self.commands: list[PtzCommand] = []
        self._cond = threading.Condition()
        self.connection = bootstrap.mqtt_connection(running.config, "video")
        topics = bootstrap.topics(running.config)
        self.connection.subscribe(topics.all_ptz_commands, self._on_command)
        self.connection.start()
        assert self.connection.wait_connected(15)

    def _on_command(self, message: Any) -> None:
        command = parse_message(message.payload, expect=PtzCommand)
        assert isinstance(command, PtzCommand)
        with self._cond:
            self.commands.append(command)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 15) -> list[PtzCommand]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.commands) >= count, timeout)
            assert len(self.commands) >= count, f"{self.commands}"
            return list(self.commands)


@pytest.fixture
def video(core: RunningCore) -> Iterator[CommandLog]:  # noqa: F811
    log = CommandLog(core)
    yield log
    log.connection.stop(publish_offline=False)


def test_an_operator_moves_the_camera_and_sees_its_rules_paused(
    core: RunningCore,  # noqa: F811
    video: CommandLog,
    login: Any,
) -> None:
    status = CameraStatus.create(
        source=Source(kind=SourceKind.CAMERA, id="cam-gate"),
        ts=datetime.now(UTC),
        camera_id="cam-gate",
        state=CameraState.ONLINE,
        fps_in=10.0,
        faults={
            "rules": "off analysis preset 1 (relative_move)",
            "events": "subscription lost: 10.0.0.5:80 PullMessages: cannot connect",
        },
    )
    topic = bootstrap.topics(core.config).camera_status("cam-gate")
    assert video.connection.publish_and_wait(topic, status.to_json(), retain=True)
    deadline = time.monotonic() + 20
    while core.daemon.live.cameras.view("cam-gate", datetime.now(UTC)) is None:
        assert time.monotonic() < deadline, "the core never saw the camera"
        time.sleep(0.05)

    operator = login("operator")
    operator.click('#nav a[data-view="cameras"]')
    tile = operator.locator('.tile[data-camera="cam-gate"]')
    tile.wait_for()
    assert tile.get_attribute("data-health") == "degraded"
    detail = tile.locator(".detail")
    assert detail.inner_text() == "事件订阅中断（连接中断）；规则暂停（摄像头偏离分析预置位）"
    assert "PullMessages" in (detail.get_attribute("title") or "")

    left = tile.locator('button[data-ptz="left"]')
    assert left.inner_text() == "左"
    left.hover()
    operator.mouse.down()
    video.wait(1)
    operator.mouse.up()
    tile.locator(".ptz-preset").fill("2")
    tile.locator('button[data-ptz="goto"]').click()
    commands = video.wait(3)
    assert [(c.action, c.pan, c.preset) for c in commands] == [
        (PtzAction.CONTINUOUS_MOVE, -0.5, None),
        (PtzAction.STOP, 0.0, None),
        (PtzAction.GOTO_PRESET, 0.0, "2"),
    ]
    assert {c.camera_id for c in commands} == {"cam-gate"}
    assert commands[0].requested_by and commands[0].timeout_s == 10
    operator.wait_for_selector("text=云台指令已发送")
    screenshot(operator, "33-camera-wall-ptz")

    dispatcher = login("dispatcher")
    dispatcher.click('#nav a[data-view="cameras"]')
    dispatcher.locator('.tile[data-camera="cam-gate"]').wait_for()
    assert dispatcher.locator(".ptz").count() == 0  # the desk moves cameras, not dispatch
