"""The core's /metrics after real work: candidates over the test Mosquitto, API requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.mqtt import MqttConnection
from adapters.mqtt.broker import free_port
from gateway import bootstrap
from gateway.config import Config
from gateway.contract import Location
from gateway.core import auth as auth_module
from gateway.core.core_metrics import COUNTS_TTL_S
from gateway.core.daemon import CoreDaemon, build_core
from tests.core.helpers import CORE_SETTINGS, candidate
from tests.core.mqtt_helpers import wait_until
from tests.observability.scrape import exported_names, referenced_by, scrape, value

TOKEN = "metrics-token-0123456789"
PASSWORD = "correct horse battery"
GRID = "32070690100101"


@pytest.fixture
def core_config(make_config: Callable[..., Config], tmp_path: Path) -> Config:
    return make_config(
        core={
            **CORE_SETTINGS,
            "database_url": f"sqlite:///{tmp_path / 'core.sqlite3'}",
            "http_port": free_port(),
        },
        metrics={"token": TOKEN, "core_port": free_port()},
    )


@pytest.fixture
def daemon(core_config: Config) -> Iterator[CoreDaemon]:
    auth_module._SCRYPT_N = 2**4
    core = build_core(core_config)
    core.auth.add_user("olga", "operator", PASSWORD, None)
    core.start()
    assert core.connection.wait_connected(15)
    yield core
    core.stop()


def test_the_cores_metrics_count_candidates_dead_letters_cases_and_requests_by_route(
    core_config: Config, daemon: CoreDaemon
) -> None:
    topics = bootstrap.topics(core_config)
    base = f"http://{core_config.core.http_host}:{core_config.core.http_port}"
    before = scrape(f"{base}/metrics", TOKEN)
    assert value(before, "citygw_candidates_ingested_total", outcome="new") == 0
    assert value(before, "citygw_cases", state="candidate") == 0

    send = MqttConnection(core_config.mqtt, "test-producer", clean_session=True)
    send.start()
    assert send.wait_connected(15)
    try:
        topic = topics.candidate("inspector", "insp-1")
        for n in (1, 2, 2):  # the third is a redelivery
            message = candidate(n, location=Location(grid_code=GRID)).to_json()
            assert send.publish_and_wait(topic, message)
        assert send.publish_and_wait(topic, b'{"schema": "nonsense"')  # a poison message
        wait_until(
            lambda: daemon.ingest.stats.stored == 2 and daemon.ingest.stats.dead_lettered == 1,
            15,
            "two candidates stored, one dead letter",
        )
    finally:
        send.stop(publish_offline=False)

    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"name": "olga", "password": PASSWORD}, timeout=10
    )
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    cases = httpx.get(f"{base}/api/v1/cases", headers=headers, timeout=10).json()["items"]
    for case in cases:
        assert httpx.get(
            f"{base}/api/v1/cases/{case['id']}", headers=headers, timeout=10
        ).is_success
    assert httpx.get(f"{base}/no/such/{cases[0]['id']}", timeout=10).status_code == 404

    # a scraper has no user session: the token is what it needs
    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{base}/metrics", headers=headers, timeout=10).status_code == 401
    # the workflow's counts are read from the database at most every COUNTS_TTL_S
    wait_until(
        lambda: value(scrape(f"{base}/metrics", TOKEN), "citygw_cases", state="candidate") == 2,
        COUNTS_TTL_S + 3,
        "the two cases counted",
    )
    after = scrape(f"{base}/metrics", TOKEN)

    assert value(after, "citygw_candidates_received_total") == 4
    assert value(after, "citygw_candidates_ingested_total", outcome="new") == 2
    assert value(after, "citygw_candidates_ingested_total", outcome="duplicate") == 1
    assert value(after, "citygw_candidates_dead_lettered_total") == 1
    assert sum(v for _labels, v in after["citygw_dead_letters_total"]) == 1
    assert value(after, "citygw_cases", state="candidate") == 2
    assert value(after, "citygw_cases_overdue") == 0
    assert value(after, "citygw_intake_running") == 1
    assert value(after, "citygw_mqtt_connected", daemon="core") == 1
    assert value(after, "citygw_outbox_messages", daemon="core", state="unsent") >= 0
    # latency by the route's template, never the raw path with its ids
    by_case = value(
        after,
        "citygw_http_request_seconds_count",
        method="GET",
        route="/api/v1/cases/{case_id}",
        status="2xx",
    )
    assert by_case == len(cases) == 2
    routes = {labels["route"] for labels, _ in after["citygw_http_request_seconds_count"]}
    assert "unmatched" in routes
    assert not any(case["id"] in route for route in routes for case in cases)

    # the same registry on the core's own listener, with the same token rule
    listener = f"http://127.0.0.1:{core_config.metrics.core_port}/metrics"
    assert httpx.get(listener, timeout=10).status_code == 401
    assert value(scrape(listener, TOKEN), "citygw_candidates_ingested_total", outcome="new") == 2

    missing = referenced_by("core") - exported_names(after)
    assert not missing, f"the dashboard or alerts name metrics the core does not export: {missing}"
