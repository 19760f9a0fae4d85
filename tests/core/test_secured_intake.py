"""Candidate to case through the secured broker (TLS, a user per daemon, ACLs from the
contract): the edge's outbox, the core, its receipts and case events all work as that
daemon's user; what a stolen edge box forges for another gateway's camera is dropped by
the broker and stored nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.mqtt.broker import free_port
from gateway import bootstrap
from gateway.config import Config
from gateway.contract import Location, SourceKind
from gateway.core.daemon import CoreDaemon, build_core
from gateway.core.ports import CaseFilter
from gateway.mqtt_acl import core_grant, observer_grant, video_grant
from tests.core.helpers import CORE_SETTINGS, candidate
from tests.core.mqtt_helpers import wait_until
from tests.mqtt_security_harness import TOPICS, SecuredBroker, Watcher, start_secured_broker

GRANTS = [
    core_grant(TOPICS, "test"),
    video_grant(TOPICS, "edge-1", ["cam-1"]),
    video_grant(TOPICS, "edge-2", ["cam-2"]),
    observer_grant(TOPICS, "ops"),
]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredBroker]:
    harness = start_secured_broker(tmp_path, GRANTS)
    yield harness
    harness.close()


@pytest.fixture
def core(secured: SecuredBroker, tmp_path: Path) -> Iterator[CoreDaemon]:
    config = secured.config(
        "core-test",
        instance="test",
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": free_port(),
        },
    )
    daemon = build_core(config, with_api=False)
    daemon.start()
    assert daemon.connection.wait_connected(15)
    yield daemon
    daemon.stop()


def camera_candidate(n: int, camera: str):  # type: ignore[no-untyped-def]
    return candidate(
        n,
        kind=SourceKind.CAMERA,
        source_id=camera,
        id=f"{camera}-cand-{n}",
        event_code="0505",
        location=Location(grid_code="32070690100101", camera_id=camera, zone_id="gate"),
    )


def edge_gateway(config: Config):  # type: ignore[no-untyped-def]
    connection = bootstrap.mqtt_connection(config, "video")
    publisher = bootstrap.edge_publisher(config, "video", connection)
    publisher.start()
    return connection, publisher, bootstrap.contract_publisher(config, publisher)


def test_candidates_become_cases_through_the_secured_broker_and_forgeries_are_stored_nowhere(
    secured: SecuredBroker, core: CoreDaemon
) -> None:
    ops = secured.connect(secured.config("ops"))
    assert ops is not None
    events = Watcher(ops, TOPICS.all_case_events)
    events.prove_active(core.connection, TOPICS.case_events("probe"))

    connection, publisher, contract = edge_gateway(
        secured.config("video-edge-1", instance="edge-1")
    )
    try:
        contract.candidate(camera_candidate(1, "cam-1"))
        wait_until(lambda: core.service.store.count_cases() == 1, 20, "the case of cam-1")
        # the core's receipt reached the edge over the broker: its outbox forgets the candidate
        wait_until(
            lambda: (
                publisher.outbox.queued_messages == 0 and publisher.outbox.awaiting_receipt() == 0
            ),
            20,
            "the receipt at the edge",
        )
        assert events.wait_for(lambda m: len(m) >= 1), "no case event from the core"
    finally:
        publisher.stop()
        connection.stop()
        publisher.outbox.close()

    # a stolen edge box (edge-2, its own valid credentials) forges cam-1's candidate
    thief = secured.connect(secured.config("video-edge-2", instance="edge-2"))
    assert thief is not None
    forged = camera_candidate(2, "cam-1")
    assert thief.publish_and_wait(
        TOPICS.candidate(SourceKind.CAMERA, "cam-1"), forged.to_json(), timeout=10
    )  # MQTT 3.1.1: acknowledged by the broker, and dropped
    # its own camera's candidate, sent after the forgery, arrives
    honest = camera_candidate(3, "cam-2")
    assert thief.publish_and_wait(
        TOPICS.candidate(SourceKind.CAMERA, "cam-2"), honest.to_json(), timeout=10
    )
    wait_until(lambda: core.service.store.count_cases() == 2, 20, "the case of cam-2")
    store = core.service.store
    cases, _total = store.list_cases(CaseFilter())
    stored = {cid for case in cases for cid in store.candidate_ids(case.id)}  # type: ignore[attr-defined]
    assert stored == {"cam-1-cand-1", "cam-2-cand-3"}
    assert store.candidate_count() == 2  # type: ignore[attr-defined]
