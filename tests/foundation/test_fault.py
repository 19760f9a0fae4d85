"""The fault test: 10 000 candidates through the outbox while the broker is killed (-9) and
restarted twice and the publisher process is killed (-9) and restarted once. The consumer
must end with exactly 10 000 distinct ids."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.mqtt.broker import MosquittoBroker
from adapters.storage.candidate_inbox import SqliteCandidateInbox
from gateway import bootstrap
from gateway.contract import Source, SourceKind
from gateway.ingest import CandidateIngest

REPO = Path(__file__).resolve().parents[2]
TOTAL = 10_000


def read_progress(path: Path) -> int:
    try:
        return int(path.read_text())
    except (FileNotFoundError, ValueError):
        return -1


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_ten_thousand_candidates_survive_broker_and_publisher_kills(
    make_config, mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    # resend unconfirmed candidates soon and often: the test has minutes, not hours
    config = make_config(outbox={"receipt_timeout_s": 5, "receipt_backoff_max_s": 10})
    config_file = tmp_path / "producer.yaml"
    config_file.write_text(json.dumps(config.model_dump(mode="json")))
    progress = tmp_path / "progress"
    producer_log = tmp_path / "producer.log"

    store = SqliteCandidateInbox(tmp_path / "consumer.sqlite3")
    connection = bootstrap.mqtt_connection(config, "core", manual_ack=True)
    dead_publisher = bootstrap.edge_publisher(config, "core", connection)
    ingest = CandidateIngest(
        store,
        bootstrap.contract_publisher(config, dead_publisher),
        Source(kind=SourceKind.CORE, id="core-fault"),
        receipts=bootstrap.MqttReceipts(config, connection, "core"),
    )
    connection.subscribe(bootstrap.topics(config).all_candidates, ingest.submit)
    ingest.start()
    dead_publisher.start()
    assert connection.wait_connected(10)
    time.sleep(1.5)  # the broker persists the consumer's session and subscription (autosave 1 s)

    def start_producer() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.foundation.fault_producer",
                str(config_file),
                str(TOTAL),
                str(progress),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=producer_log.open("ab"),
            text=True,
        )

    producer = start_producer()
    try:
        wait_until(lambda: read_progress(progress) >= 1500, 60, "1500 queued")
        mosquitto.kill()  # 1st broker crash: the producer keeps queueing on disk
        wait_until(
            lambda: read_progress(progress) >= 3000, 60, "3000 queued while the broker is down"
        )
        mosquitto.start()
        wait_until(
            lambda: store.count() >= 3000, 90, "the backlog to drain after the broker came back"
        )
        wait_until(lambda: read_progress(progress) >= 4500, 60, "4500 queued")
        producer.kill()  # the publisher process dies mid-stream
        producer.wait(10)
        killed_at = read_progress(progress)
        producer = start_producer()
        wait_until(
            lambda: read_progress(progress) >= killed_at + 1500,
            60,
            "the restarted producer to go on",
        )
        mosquitto.kill()  # 2nd broker crash
        time.sleep(1.0)
        mosquitto.start()
        assert producer.stdout is not None
        try:
            out = producer.communicate(timeout=300)[0]
        except subprocess.TimeoutExpired:
            tail = producer_log.read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"the producer did not drain; {store.count()} stored; its log ends:\n{tail}"
            ) from None
        assert "drained" in out, out
        try:
            wait_until(lambda: store.count() >= TOTAL, 30, "every candidate at the consumer")
        except AssertionError:
            missing = sorted({f"fault-{i:05d}" for i in range(TOTAL)} - store.ids())
            raise AssertionError(
                f"{store.count()} stored; missing {len(missing)}: {missing[:5]}..{missing[-5:]}"
            ) from None
        ingest.wait_idle(10)
        time.sleep(0.5)
        ids = store.ids()
        assert len(ids) == TOTAL
        assert ids == {f"fault-{i:05d}" for i in range(TOTAL)}
        assert ingest.stats.stored == TOTAL
    finally:
        producer.kill()
        connection.stop()
        ingest.stop()
        dead_publisher.stop()
        dead_publisher.outbox.close()
        store.close()
