"""Through a real Mosquitto: outbox delivery, availability, the consumer's dead letters and dedup."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.mqtt import MqttConnection, ReceivedMessage
from adapters.mqtt.broker import MosquittoBroker
from adapters.storage.candidate_inbox import SqliteCandidateInbox
from gateway import bootstrap
from gateway.config import Config
from gateway.contract import (
    CandidateCase,
    DaemonStatus,
    DeadLetter,
    Source,
    SourceKind,
    parse_message,
)
from gateway.ingest import CandidateIngest
from tests.foundation.test_contract import sample_messages


class Collector:
    """A plain subscriber that remembers what arrived."""

    def __init__(self, config: Config, topic_filter: str, name: str) -> None:
        self.messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        self.connection = MqttConnection(config.mqtt, f"test-{name}", clean_session=True)
        self.connection.subscribe(topic_filter, self._on_message)
        self.connection.start()
        assert self.connection.wait_connected(10)
        time.sleep(0.2)  # let the SUBACK come back before anything is published

    def _on_message(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._arrived.wait(0.2)
            return list(self.messages)

    def close(self) -> None:
        self.connection.stop(publish_offline=False)


@pytest.fixture
def collect(make_config: Callable[..., Config]) -> Iterator[Callable[[str], Collector]]:
    made: list[Collector] = []

    def start(topic_filter: str) -> Collector:
        collector = Collector(make_config(), topic_filter, f"c{len(made)}")
        made.append(collector)
        return collector

    yield start
    for collector in made:
        collector.close()


def test_every_message_type_arrives_through_the_outbox_and_parses(make_config, collect) -> None:
    config = make_config()
    collector = collect(f"{config.mqtt.topic_root}/#")
    connection = bootstrap.mqtt_connection(config, "agi")
    publisher = bootstrap.edge_publisher(config, "agi", connection)
    contract = bootstrap.contract_publisher(config, publisher)
    publisher.start()
    candidate, event, feedback, _daemon, camera, letter = sample_messages()
    contract.candidate(candidate)
    contract.case_event(event)
    contract.feedback(feedback)
    contract.camera_status(camera)
    contract.dead_letter(letter, "core-test")
    arrived = collector.wait_for(6)
    by_schema = {}
    for message in arrived:
        parsed = parse_message(message.payload)
        by_schema[parsed.SCHEMA] = (message.topic, parsed)
    assert by_schema["citygw.candidate_case"] == (
        "citygw/v1/candidates/camera/cam-gate-3",
        candidate,
    )
    assert by_schema["citygw.case_event"][1] == event
    assert by_schema["citygw.case_feedback"][1] == feedback
    assert by_schema["citygw.camera_status"] == ("citygw/v1/cameras/cam-gate-3/status", camera)
    assert by_schema["citygw.dead_letter"][1] == letter
    status = by_schema["citygw.daemon_status"][1]
    assert isinstance(status, DaemonStatus) and status.state == "online" and status.daemon == "agi"
    # the broker has everything, but the candidate and the feedback stay on disk until a
    # consumer's receipt
    deadline = time.monotonic() + 20
    while publisher.outbox.queued_messages > 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.outbox.queued_messages == 2
    assert publisher.outbox.awaiting_receipt() == 2
    receipts = bootstrap.MqttReceipts(config, connection, "core")
    receipts.send_receipt([candidate.id, feedback.id], [])
    assert publisher.wait_drained(20)
    publisher.stop()
    connection.stop()
    publisher.outbox.close()


def test_a_daemon_that_dies_is_announced_offline_by_its_last_will(
    make_config, collect, tmp_path: Path
) -> None:
    config = make_config()
    collector = collect(f"{config.mqtt.topic_root}/status/#")
    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        json.dumps(config.model_dump(mode="json", exclude={"mqtt": {"password"}}))
    )
    import subprocess
    import sys

    script = (
        "import sys, time; from gateway.config import load_config; from gateway import bootstrap;"
        f"c = load_config({str(config_file)!r}); conn = bootstrap.mqtt_connection(c, 'video'); conn.start();"
        "assert conn.wait_connected(10); print('up', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "up"
        online = collector.wait_for(1)
        assert parse_message(online[0].payload).state == "online"
        assert online[0].topic == "citygw/v1/status/video/test"
        process.kill()
        process.wait(10)
        # the broker notices the dead connection within 1.5 x keepalive at worst; the socket
        # closing makes it immediate
        states = [parse_message(m.payload).state for m in collector.wait_for(2, timeout=60)]
        assert states[-1] == "offline"
    finally:
        process.kill()


def test_a_clean_stop_says_offline_at_the_time_it_stops_not_the_time_it_started(
    make_config, collect
) -> None:
    config = make_config()
    collector = collect(f"{config.mqtt.topic_root}/status/#")
    connection = bootstrap.mqtt_connection(config, "video")
    connection.start()
    assert connection.wait_connected(10)
    (online,) = collector.wait_for(1)
    time.sleep(1.2)
    connection.stop()
    offline = collector.wait_for(2)[-1]
    started, stopped = parse_message(online.payload), parse_message(offline.payload)
    assert stopped.state == "offline" and started.state == "online"
    assert (stopped.ts - started.ts).total_seconds() >= 1.0
    assert stopped.id != started.id


def _ingest_setup(config: Config, tmp_path: Path):
    store = SqliteCandidateInbox(tmp_path / "inbox.sqlite3")
    connection = bootstrap.mqtt_connection(config, "core", manual_ack=True)
    publisher = bootstrap.edge_publisher(config, "core", connection)
    contract = bootstrap.contract_publisher(config, publisher)
    ingest = CandidateIngest(
        store,
        contract,
        Source(kind=SourceKind.CORE, id="core-test"),
        max_batch=50,
        receipts=bootstrap.MqttReceipts(config, connection, "core"),
    )
    connection.subscribe(contract.topics.all_candidates, ingest.submit)
    ingest.start()
    publisher.start()
    assert connection.wait_connected(10)
    time.sleep(0.2)

    def stop() -> None:
        connection.stop()
        ingest.stop()
        publisher.stop()
        publisher.outbox.close()
        store.close()

    return store, ingest, stop


def test_the_consumer_dead_letters_malformed_messages_and_keeps_storing_good_ones(
    make_config, collect, tmp_path: Path
) -> None:
    config = make_config()
    dead = collect(f"{config.mqtt.topic_root}/deadletter/#")
    store, ingest, stop = _ingest_setup(config, tmp_path)
    sender = MqttConnection(config.mqtt, "test-sender", clean_session=True)
    sender.start()
    assert sender.wait_connected(10)
    topic = "citygw/v1/candidates/call/agi-x"
    good = [
        CandidateCase.create(source=Source(kind=SourceKind.CALL, id="agi-x"), event_code="0102")
        for _ in range(3)
    ]
    bad_payloads = [
        b"{broken json",
        json.dumps({"schema": "citygw.candidate_case", "version": "9.0"}).encode(),
        json.dumps({**json.loads(good[0].to_json()), "event_code": 12}).encode(),
        json.dumps(
            json.loads(sample_messages()[1].to_json())
        ).encode(),  # a case event on a candidate topic
        b"x" * (10 * 1024 * 1024),
    ]
    try:
        sender.publish_and_wait(topic, good[0].to_json())
        for payload in bad_payloads:
            assert sender.publish_and_wait(topic, payload, timeout=30)
        sender.publish_and_wait(topic, good[1].to_json())
        sender.publish_and_wait(topic, good[2].to_json())
        sender.publish_and_wait(topic, good[0].to_json())  # redelivery of the same id
        letters = dead.wait_for(len(bad_payloads), timeout=30)
        deadline = time.monotonic() + 20
        while store.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.ids() == {c.id for c in good}
        codes = [parse_message(m.payload).error_code for m in letters]
        assert codes == [
            "bad_json",
            "unsupported_version",
            "invalid",
            "unexpected_schema",
            "too_large",
        ]
        too_large = parse_message(letters[-1].payload)
        assert isinstance(too_large, DeadLetter) and too_large.payload_size == 10 * 1024 * 1024
        assert len(too_large.payload_head_b64) < 10_000
        assert ingest.stats.dead_lettered == 5
    finally:
        sender.stop(publish_offline=False)
        stop()


def test_a_consumer_restart_loses_nothing_sent_while_it_was_away(
    make_config, tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    config = make_config()
    store, _ingest, stop = _ingest_setup(config, tmp_path)
    stop()  # the persistent session stays on the broker
    connection = bootstrap.mqtt_connection(config, "cam")
    publisher = bootstrap.edge_publisher(config, "cam", connection)
    contract = bootstrap.contract_publisher(config, publisher)
    publisher.start()
    sent = [
        CandidateCase.create(source=Source(kind=SourceKind.CAMERA, id="c1"), event_code="0505")
        for _ in range(50)
    ]
    for candidate in sent:
        contract.candidate(candidate)
    deadline = time.monotonic() + 20
    while publisher.outbox.awaiting_receipt() < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.outbox.awaiting_receipt() == 50  # the broker holds them for the consumer
    store, _ingest, stop = _ingest_setup(config, tmp_path)
    try:
        deadline = time.monotonic() + 20
        while store.count() < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.ids() == {c.id for c in sent}
        assert publisher.wait_drained(20)  # receipts came back
    finally:
        stop()
        publisher.stop()
        connection.stop()
        publisher.outbox.close()


def test_an_unconfirmed_candidate_is_sent_again_until_a_receipt_names_it(
    make_config, collect
) -> None:
    config = make_config(outbox={"receipt_timeout_s": 1})
    collector = collect(f"{config.mqtt.topic_root}/candidates/#")
    connection = bootstrap.mqtt_connection(config, "video")
    publisher = bootstrap.edge_publisher(config, "video", connection)
    contract = bootstrap.contract_publisher(config, publisher)
    publisher.start()
    candidate = CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id="c9"), event_code="0507"
    )
    contract.candidate(candidate)
    copies = collector.wait_for(2, timeout=30)
    assert len(copies) >= 2
    assert {parse_message(m.payload).id for m in copies} == {candidate.id}
    assert publisher.resent_total >= 1
    bootstrap.MqttReceipts(config, connection, "core").send_receipt([candidate.id], [])
    assert publisher.wait_drained(20)
    publisher.stop()
    connection.stop()
    publisher.outbox.close()
