"""``POST /api/v1/cameras/{id}/ptz``: operators and shift leads move a known camera; the
command goes out as a `PtzCommand` for its video gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.contract import (
    CameraState,
    CameraStatus,
    PtzAction,
    PtzCommand,
    Source,
    SourceKind,
    parse_message,
)
from gateway.core.api import ApiContext, create_app
from gateway.core.cameras import CameraRegistry
from gateway.core.codes import load_event_names
from gateway.core.ptz import PtzCommands
from tests.core.api_harness import Api, make_api
from tests.core.helpers import MONDAY_10, core_config

CORE = Source(kind=SourceKind.DAEMON, id="core-test")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def _client(api: Api, sent: list[PtzCommand]) -> TestClient:
    registry = CameraRegistry(timedelta(minutes=3))
    registry.update(
        CameraStatus.create(
            source=Source(kind=SourceKind.CAMERA, id="gate-3"),
            ts=MONDAY_10,
            camera_id="gate-3",
            state=CameraState.ONLINE,
        )
    )
    ptz = PtzCommands(sent.append, CORE, registry, api.clock.now)
    context = ApiContext(
        api.service, api.auth, core_config(), api.clock, load_event_names(), ptz=ptz
    )
    return TestClient(create_app(context))


def test_an_operator_sends_a_goto_preset_that_the_gateway_can_read(api: Api) -> None:
    sent: list[PtzCommand] = []
    with _client(api, sent) as client:
        response = client.post(
            "/api/v1/cameras/gate-3/ptz",
            json={"action": "goto_preset", "preset": "1"},
            headers=api.headers("operator"),
        )
        assert response.status_code == 202, response.text
        assert response.json()["action"] == "goto_preset"
        moved = client.post(
            "/api/v1/cameras/gate-3/ptz",
            json={"action": "continuous_move", "pan": -0.5, "timeout_s": 2},
            headers=api.headers("shift_lead"),
        )
        assert moved.status_code == 202, moved.text
    assert [(c.action, c.preset, c.pan) for c in sent] == [
        (PtzAction.GOTO_PRESET, "1", 0.0),
        (PtzAction.CONTINUOUS_MOVE, None, -0.5),
    ]
    first = parse_message(sent[0].to_json(), expect=PtzCommand)
    assert isinstance(first, PtzCommand)
    assert first.camera_id == "gate-3" and first.ts == MONDAY_10 and first.requested_by
    assert response.json()["id"] == first.id


def test_other_roles_unknown_cameras_and_broken_commands_are_refused(api: Api) -> None:
    sent: list[PtzCommand] = []
    body = {"action": "stop"}
    with _client(api, sent) as client:
        for role in ("dispatcher", "department", "inspector", "admin"):
            refused = client.post(
                "/api/v1/cameras/gate-3/ptz", json=body, headers=api.headers(role)
            )
            assert refused.status_code == 403, role
        unknown = client.post(
            "/api/v1/cameras/gate-9/ptz", json=body, headers=api.headers("operator")
        )
        assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_camera"
        broken = client.post(
            "/api/v1/cameras/gate-3/ptz",
            json={"action": "goto_preset"},
            headers=api.headers("operator"),
        )
        assert broken.status_code == 422 and broken.json()["error"] == "bad_ptz"
        assert "preset" in broken.json()["detail"]
    assert sent == []


def test_a_core_without_ptz_says_so(api: Api) -> None:
    response = api.client.post(
        "/api/v1/cameras/gate-3/ptz", json={"action": "stop"}, headers=api.headers("operator")
    )
    assert response.status_code == 503 and response.json()["error"] == "ptz_unavailable"
