"""The fuzz corpus through a real Mosquitto to a real `citygw core` process: every poison
message is kept as a dead letter and acknowledged, valid neighbours are stored, and valid
candidates sent after it arrive within a second, also after a restart."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from adapters.mqtt import MqttConnection
from adapters.storage import schema as t
from adapters.storage.case_store import SqlCaseStore
from adapters.storage.dead_letter_store import SqlDeadLetters
from gateway import bootstrap
from gateway.clock import utc_now
from gateway.config import Config
from gateway.dead_letters import HEAD_BYTES
from tests.core.core_process import (
    core_config,
    start_core,
    status_watch,
    stop_core,
    wait_online,
    write_config,
)
from tests.core.helpers import candidate
from tests.core.mqtt_helpers import wait_until
from tests.foundation.poison_corpus import corpus

ARRIVAL_S = 1.0


def sender(config: Config) -> MqttConnection:
    connection = MqttConnection(config.mqtt, "fuzzer", clean_session=True)
    connection.start()
    assert connection.wait_connected(15)
    return connection


def send_valid(connection: MqttConnection, config: Config, numbers: range) -> None:
    """Valid candidates, each stamped with the moment it is sent."""
    topic = bootstrap.topics(config).candidate("inspector", "insp-1")
    for n in numbers:
        payload = candidate(n, ts=utc_now()).to_json()
        assert connection.publish_and_wait(topic, payload, timeout=30)


def slowest_arrival_s(store: SqlCaseStore, numbers: range, within_s: float) -> float:
    """Once all of ``numbers`` are stored: the longest any took from being sent to being
    stored (the core's ``received_at`` less the candidate's ``ts``)."""
    ids = [f"cand-{n:06d}" for n in numbers]
    query = sa.select(t.candidates.c.produced_at, t.candidates.c.received_at).where(
        t.candidates.c.id.in_(ids)
    )
    deadline = time.monotonic() + 30
    while True:
        with store.engine.connect() as c:
            rows = c.execute(query).all()
        if len(rows) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(rows) == len(ids), f"{len(rows)} of {len(ids)} stored"
    slowest = max((received - produced).total_seconds() for produced, received in rows)
    assert slowest <= within_s, f"a valid candidate took {slowest:.2f}s to arrive"
    return slowest


def test_the_fuzz_corpus_holds_nothing_back_and_every_poison_message_is_kept(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    config = core_config(make_config, db_url)
    config_file = write_config(config, tmp_path / "core.yaml")
    topics = bootstrap.topics(config)
    poison = corpus(300)
    status = status_watch(config)
    core = start_core(config_file, tmp_path / "core-1.log")
    fuzzer = None
    store = None
    try:
        wait_online(status)
        store = SqlCaseStore.open(db_url, run_migrations=False)
        kept = SqlDeadLetters.for_store(store)
        fuzzer = sender(config)
        # poison between valid candidates: one valid after each poison message
        for n, item in enumerate(poison):
            assert fuzzer.publish_and_wait(item.topic(topics.root), item.payload, timeout=60)
            send_valid(fuzzer, config, range(n, n + 1))
        wait_until(lambda: store.candidate_count() >= len(poison), 60, "the valid neighbours")
        wait_until(lambda: kept.dead_letters(0, 1)[1] >= len(poison), 60, "the dead letters")

        # valid candidates sent after the corpus arrive within a second
        send_valid(fuzzer, config, range(1000, 1100))
        slowest_arrival_s(store, range(1000, 1100), ARRIVAL_S)

        letters, total = kept.dead_letters(0, 10_000)
        assert total == len(poison)
        found = Counter((d.record.topic, d.record.size, d.record.head) for d in letters)
        wanted = Counter(
            (p.topic(topics.root), len(p.payload), p.payload[:HEAD_BYTES]) for p in poison
        )
        assert found == wanted
        codes = {(d.record.topic, d.record.head): d.record.code for d in letters}
        for item in poison:
            code = codes[(item.topic(topics.root), item.payload[:HEAD_BYTES])]
            assert code in item.codes, (item.name, code)
        assert {
            "too_deep",
            "bad_version",
            "facts_too_large",
            "source_mismatch",
            "too_large",
        } <= set(codes.values())
        assert store.candidate_count() == len(poison) + 100  # no poison was stored
        base = f"http://{config.core.http_host}:{config.core.http_port}"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200

        # after a restart nothing comes back (every poison message was acknowledged)
        stop_core(core)
        status.close()
        status = status_watch(config)
        core = start_core(config_file, tmp_path / "core-2.log")
        wait_online(status)
        send_valid(fuzzer, config, range(2000, 2100))
        slowest_arrival_s(store, range(2000, 2100), ARRIVAL_S)
        assert store.candidate_count() == len(poison) + 200
        assert kept.dead_letters(0, 1)[1] == len(poison)
        assert core.poll() is None
    finally:
        stop_core(core)
        status.close()
        if fuzzer is not None:
            fuzzer.stop()
        if store is not None:
            store.close()
