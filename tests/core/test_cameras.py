"""Camera health in the core: the registry's judgement, the MQTT consumer, the camera routes
(health and live-view grants), and a retained status through a real Mosquitto."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.mqtt import MqttConnection
from adapters.mqtt.broker import free_port
from gateway import bootstrap, live_tokens
from gateway.config import Config
from gateway.contract import (
    CameraState,
    CameraStatus,
    DaemonState,
    DaemonStatus,
    Source,
    SourceKind,
    Topics,
    parse_message,
)
from gateway.core import auth as auth_module
from gateway.core.api import ApiContext, create_app
from gateway.core.cameras import (
    CameraHealth,
    CameraRegistry,
    CameraStatusConsumer,
    CameraView,
)
from gateway.core.codes import load_event_names
from gateway.core.daemon import build_core
from tests.core.api_harness import Api, make_api
from tests.core.helpers import MONDAY_10, core_config

SECRET = "s" * 20 + "-0123456789abcdef"
STALE = timedelta(seconds=180)


def status(
    camera_id: str = "cam-1",
    state: CameraState = CameraState.ONLINE,
    at: datetime = MONDAY_10,
    detail: str = "",
    gateway: str | None = None,
) -> CameraStatus:
    return CameraStatus.create(
        source=Source(kind=SourceKind.CAMERA, id=camera_id),
        ts=at,
        camera_id=camera_id,
        state=state,
        fps_in=25.0,
        fps_analysed=5.0,
        last_frame_at=at,
        detail=detail,
        gateway=gateway,
    )


def gateway(state: DaemonState, instance: str = "v1", daemon: str = "video") -> DaemonStatus:
    return DaemonStatus.create(
        source=Source(kind=SourceKind.DAEMON, id=f"{daemon}-{instance}"),
        daemon=daemon,
        instance=instance,
        state=state,
    )


# --------------------------------------------------------------------------- the registry


def test_a_fresh_online_status_is_online() -> None:
    registry = CameraRegistry(STALE)
    registry.update(status())
    view = registry.view("cam-1", MONDAY_10 + timedelta(seconds=30))
    assert view is not None
    assert (view.health, view.stale, view.last_seen) == (CameraHealth.ONLINE, False, MONDAY_10)
    assert view.as_dict()["health_label"] == "在线"


def test_a_camera_that_streams_but_is_not_analysed_is_degraded_with_the_reason() -> None:
    registry = CameraRegistry(STALE)
    faulty = status(detail="384x288").model_copy(
        update={"faults": {"analysis": "no loaded model gives ['fallen_person']"}}
    )
    registry.update(faulty)
    view = registry.view("cam-1", MONDAY_10 + timedelta(seconds=30))
    assert view is not None and view.health is CameraHealth.DEGRADED
    assert view.detail == "384x288; analysis: no loaded model gives ['fallen_person']"
    # the fault travels in the message: a core parses it back from the JSON
    assert parse_message(faulty.to_json()).faults == faulty.faults  # type: ignore[union-attr]


def test_a_status_older_than_the_configured_age_is_stale_and_unknown() -> None:
    registry = CameraRegistry(STALE)
    registry.update(status())
    just = registry.view("cam-1", MONDAY_10 + STALE)
    late = registry.view("cam-1", MONDAY_10 + STALE + timedelta(seconds=1))
    assert just is not None and just.health is CameraHealth.ONLINE
    assert late is not None and late.stale and late.health is CameraHealth.UNKNOWN
    assert late.state is CameraState.ONLINE and "181" in late.detail
    assert late.as_dict()["health_label"] == "未知"


@pytest.mark.parametrize(
    ("state", "health", "label"),
    [
        (CameraState.OFFLINE, CameraHealth.OFFLINE, "离线"),
        (CameraState.ERROR, CameraHealth.DEGRADED, "异常"),
        (CameraState.RECONNECTING, CameraHealth.DEGRADED, "异常"),
        (CameraState.STARTING, CameraHealth.DEGRADED, "异常"),
    ],
)
def test_camera_states_map_to_the_console_health(
    state: CameraState, health: CameraHealth, label: str
) -> None:
    registry = CameraRegistry(STALE)
    registry.update(status(state=state, detail="401 Unauthorized"))
    view = registry.view("cam-1", MONDAY_10)
    assert view is not None and view.health is health and view.as_dict()["health_label"] == label
    assert view.detail == "401 Unauthorized"


def test_an_older_status_never_replaces_a_newer_one() -> None:
    registry = CameraRegistry(STALE)
    assert registry.update(status(at=MONDAY_10 + timedelta(seconds=10)))
    assert not registry.update(status(state=CameraState.OFFLINE, at=MONDAY_10))
    view = registry.view("cam-1", MONDAY_10 + timedelta(seconds=20))
    assert view is not None and view.health is CameraHealth.ONLINE


def test_the_last_will_of_the_only_video_gateway_takes_its_cameras_offline() -> None:
    registry = CameraRegistry(STALE)
    registry.update(status("cam-1"))
    registry.update(status("cam-2", state=CameraState.RECONNECTING))
    assert registry.gateway(gateway(DaemonState.ONLINE))
    assert [v.health for v in registry.cameras(MONDAY_10)] == [
        CameraHealth.ONLINE,
        CameraHealth.DEGRADED,
    ]
    assert registry.gateway(gateway(DaemonState.OFFLINE))  # the broker's last will
    views = registry.cameras(MONDAY_10)
    assert all(v.health is CameraHealth.OFFLINE and v.gateway_offline for v in views)
    assert views[0].detail == "视频网关离线"
    registry.gateway(gateway(DaemonState.ONLINE))
    back = registry.view("cam-1", MONDAY_10)
    assert back is not None and back.health is CameraHealth.ONLINE


def test_one_gateway_of_several_going_away_takes_exactly_its_own_cameras_offline() -> None:
    registry = CameraRegistry(STALE)
    registry.update(status("cam-1", gateway="v1"))
    registry.update(status("cam-2", gateway="v2"))
    registry.gateway(gateway(DaemonState.ONLINE, "v1"))
    registry.gateway(gateway(DaemonState.ONLINE, "v2"))
    registry.gateway(gateway(DaemonState.OFFLINE, "v1"))
    health = {v.camera_id: (v.health, v.gateway_offline) for v in registry.cameras(MONDAY_10)}
    assert health == {
        "cam-1": (CameraHealth.OFFLINE, True),
        "cam-2": (CameraHealth.ONLINE, False),
    }
    assert not registry.all_gateways_offline


def test_without_a_gateway_name_one_gateway_of_several_going_away_leaves_staleness() -> None:
    registry = CameraRegistry(STALE)
    registry.update(status("cam-1"))
    registry.gateway(gateway(DaemonState.ONLINE, "v1"))
    registry.gateway(gateway(DaemonState.ONLINE, "v2"))
    registry.gateway(gateway(DaemonState.OFFLINE, "v1"))
    view = registry.view("cam-1", MONDAY_10)
    assert view is not None and view.health is CameraHealth.ONLINE  # it may be v2's camera
    assert not registry.gateway(gateway(DaemonState.OFFLINE, "core-1", daemon="core"))
    assert not registry.all_gateways_offline


# --------------------------------------------------------------------------- the consumer


@dataclass
class Inbound:
    topic: str
    payload: bytes
    acked: bool = False

    def ack(self) -> bool:
        self.acked = True
        return True


@dataclass
class Changes:
    seen: list[list[CameraView]] = field(default_factory=list)

    def __call__(self, views: list[CameraView]) -> None:
        self.seen.append(views)


def consumer(now: datetime = MONDAY_10) -> tuple[CameraStatusConsumer, Changes]:
    changes = Changes()
    return CameraStatusConsumer(CameraRegistry(STALE), lambda: now, changes), changes


def test_the_consumer_tells_changes_not_periodic_refreshes() -> None:
    cameras, changes = consumer(MONDAY_10 + timedelta(seconds=90))
    topic = Topics().camera_status("cam-1")
    first = Inbound(topic, status().to_json())
    cameras.camera_status(first)
    cameras.camera_status(Inbound(topic, status(at=MONDAY_10 + timedelta(seconds=60)).to_json()))
    cameras.camera_status(
        Inbound(
            topic,
            status(state=CameraState.RECONNECTING, at=MONDAY_10 + timedelta(seconds=61)).to_json(),
        )
    )
    assert first.acked
    assert [[v.health for v in views] for views in changes.seen] == [
        [CameraHealth.ONLINE],
        [CameraHealth.DEGRADED],
    ]


def test_a_broken_status_is_acknowledged_and_dropped() -> None:
    cameras, changes = consumer()
    bad = Inbound(Topics().camera_status("cam-1"), b'{"schema": "citygw.camera_status"}')
    cameras.camera_status(bad)
    wrong = Inbound(Topics().camera_status("cam-1"), gateway(DaemonState.ONLINE).to_json())
    cameras.camera_status(wrong)
    assert bad.acked and wrong.acked and cameras.rejected == 2 and changes.seen == []
    assert cameras.registry.cameras(MONDAY_10) == []


def test_a_cleared_retained_status_forgets_the_camera() -> None:
    cameras, changes = consumer()
    topic = Topics().camera_status("cam-1")
    cameras.camera_status(Inbound(topic, status().to_json()))
    cameras.camera_status(Inbound(topic, b""))
    assert cameras.registry.cameras(MONDAY_10) == [] and changes.seen[-1] == []


def test_a_gateway_last_will_is_told_for_every_camera() -> None:
    cameras, changes = consumer()
    cameras.camera_status(Inbound(Topics().camera_status("cam-1"), status().to_json()))
    will = Inbound(Topics().daemon_status("video", "v1"), gateway(DaemonState.OFFLINE).to_json())
    cameras.daemon_status(will)
    assert will.acked
    assert [v.health for v in changes.seen[-1]] == [CameraHealth.OFFLINE]


# --------------------------------------------------------------------------- the routes


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def test_the_camera_list_shows_health_to_the_camera_wall_roles_only(api: Api) -> None:
    live = api.client.app.state.ctx.live  # type: ignore[attr-defined]
    live.cameras.update(status("cam-2", state=CameraState.ERROR, detail="401 Unauthorized"))
    live.cameras.update(status("cam-1", at=MONDAY_10 - timedelta(minutes=10)))
    for role in ("operator", "shift_lead", "dispatcher", "admin"):
        response = api.client.get("/api/v1/cameras", headers=api.headers(role))
        assert response.status_code == 200, role
    doc = response.json()
    assert [(c["camera_id"], c["health"], c["stale"]) for c in doc["items"]] == [
        ("cam-1", "unknown", True),
        ("cam-2", "degraded", False),
    ]
    assert doc["items"][1]["health_label"] == "异常"
    assert doc["stale_after_s"] == 180
    for role in ("inspector", "department"):
        refused = api.client.get("/api/v1/cameras", headers=api.headers(role))
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_role"
    assert api.client.get("/api/v1/cameras").status_code == 401


def test_a_live_token_needs_a_configured_secret(api: Api) -> None:
    response = api.client.post("/api/v1/cameras/cam-1/live-token", headers=api.headers("operator"))
    assert response.status_code == 503
    assert response.json()["error"] == "live_view_not_configured"
    assert "token_secret" in response.json()["detail"]


def test_a_live_token_is_a_grant_the_video_gateway_can_verify(api: Api) -> None:
    config = core_config(
        live_view={
            "token_secret": SECRET,
            "token_ttl_s": 90,
            "signalling_url": "http://video-1.example:8091/live/",
        }
    )
    app = create_app(ApiContext(api.service, api.auth, config, api.clock, load_event_names()))
    with TestClient(app) as client:
        url = "/api/v1/cameras/gate-3/live-token"
        response = client.post(url, headers=api.headers("shift_lead"))
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["signalling_url"] == "http://video-1.example:8091/live/"
        assert datetime.fromisoformat(doc["expires_at"]) == MONDAY_10 + timedelta(seconds=90)
        grant = live_tokens.verify(SECRET, doc["token"], camera_id="gate-3", now=MONDAY_10)
        assert grant.subject == "lena" and grant.camera_id == "gate-3"
        with pytest.raises(live_tokens.LiveTokenError) as wrong:
            live_tokens.verify(SECRET, doc["token"], camera_id="gate-4", now=MONDAY_10)
        assert wrong.value.code == "wrong_camera"
        with pytest.raises(live_tokens.LiveTokenError) as late:
            live_tokens.verify(
                SECRET, doc["token"], camera_id="gate-3", now=MONDAY_10 + timedelta(seconds=91)
            )
        assert late.value.code == "expired"
        assert SECRET not in response.text
        for role in ("inspector", "department"):
            assert client.post(url, headers=api.headers(role)).status_code == 403
        assert client.post(url).status_code == 401
        bad = client.post("/api/v1/cameras/..%2Fetc/live-token", headers=api.headers("operator"))
        assert bad.status_code in (404, 422)


def test_a_short_live_view_secret_is_refused_and_an_empty_one_means_unset() -> None:
    with pytest.raises(ValueError, match="32"):
        core_config(live_view={"token_secret": "too-short"})
    assert core_config(live_view={"token_secret": ""}).live_view.token_secret is None


# --------------------------------------------------------------------------- through Mosquitto


def test_a_retained_camera_status_on_the_broker_appears_at_the_api(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    auth_module._SCRYPT_N = 2**4
    port = free_port()
    config = make_config(
        core={"database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}", "http_port": port}
    )
    topics = bootstrap.topics(config)
    camera = MqttConnection(config.mqtt, "test-video-cams", clean_session=True)
    camera.start()
    assert camera.wait_connected(15)
    # retained before the core exists: the core learns it when it subscribes
    assert camera.publish_and_wait(
        topics.camera_status("gate-3"),
        status("gate-3", at=datetime.now().astimezone()).to_json(),
        retain=True,
    )
    daemon = build_core(config)
    daemon.auth.add_user("olga", "operator", "long enough pw", None)
    daemon.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            token = client.post(
                "/api/v1/auth/login", json={"name": "olga", "password": "long enough pw"}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}

            def cameras() -> list[dict[str, Any]]:
                items: list[dict[str, Any]] = client.get("/api/v1/cameras", headers=headers).json()[
                    "items"
                ]
                return items

            deadline = time.monotonic() + 20
            while not cameras() and time.monotonic() < deadline:
                time.sleep(0.1)
            [seen] = cameras()
            assert (seen["camera_id"], seen["health"], seen["health_label"]) == (
                "gate-3",
                "online",
                "在线",
            )
            # the video gateway dies: the broker publishes its retained last will
            camera.publish_and_wait(
                topics.daemon_status("video", "v1"),
                gateway(DaemonState.OFFLINE).to_json(),
                retain=True,
            )
            deadline = time.monotonic() + 20
            while cameras()[0]["health"] != "offline" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert cameras()[0]["health_label"] == "离线"
    finally:
        daemon.stop()
        camera.stop(publish_offline=False)
