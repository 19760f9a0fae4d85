"""Benchmark: candidates/s through the durable outbox vs raw paho QoS 1, same broker, same run.

    .venv/bin/python bench/mqtt_outbox.py [--count 10000] [--repeat 3]

(a) raw: paho ``publish(qos=1)`` of N candidate payloads, until every PUBACK is back;
(b) outbox: ``OutboxPublisher.publish`` (each message committed to SQLite before the call
    returns), until every PUBACK is back and the rows are deleted;
(c) end to end: outbox with receipts, the core's ingest storing each candidate by id in
    SQLite and confirming it, until the edge outbox is empty.
Each is run ``--repeat`` times against one local Mosquitto; the median is reported. Results go
to bench/results/mqtt_outbox.json and the ratio (b)/(a) is printed (target >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.mqtt.broker import MosquittoBroker  # noqa: E402
from adapters.storage.candidate_inbox import SqliteCandidateInbox  # noqa: E402
from gateway import bootstrap  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.contract import CandidateCase, Location, Source, SourceKind  # noqa: E402
from gateway.ingest import CandidateIngest  # noqa: E402


def payloads(count: int, source_id: str = "bench-cam") -> list[tuple[str, bytes]]:
    source = Source(kind=SourceKind.CAMERA, id=source_id)
    out = []
    for index in range(count):
        candidate = CandidateCase.create(
            source=source,
            event_code="0505",
            title="机动车乱停放",
            location=Location(grid_code="32070390100101", camera_id="bench-cam", zone_id="z1"),
            facts={"index": index, "track_id": index % 97, "score": 0.87},
        )
        out.append((candidate.id, candidate.to_json()))
    return out


def run_raw(broker: MosquittoBroker, messages: list[tuple[str, bytes]], window: int) -> float:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", clean_session=True)
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    done = threading.Event()
    acked = [0]

    def on_publish(*_args: object) -> None:
        acked[0] += 1
        if acked[0] == len(messages):
            done.set()

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    time.sleep(0.2)
    started = time.perf_counter()
    for _id, payload in messages:
        client.publish("citygw/v1/candidates/camera/bench-raw", payload, qos=1)
    if not done.wait(300):
        raise RuntimeError(f"raw: only {acked[0]} of {len(messages)} acked")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return len(messages) / elapsed


def run_outbox(config: Config, messages: list[tuple[str, bytes]], run: int) -> float:
    connection = bootstrap.mqtt_connection(config, f"benchob{run}")
    publisher = bootstrap.edge_publisher(config, f"benchob{run}", connection)
    publisher.start()
    assert connection.wait_connected(10)
    started = time.perf_counter()
    for _id, payload in messages:
        publisher.publish("citygw/v1/candidates/camera/bench-outbox", payload)
    if not publisher.wait_drained(300):
        raise RuntimeError("outbox did not drain")
    elapsed = time.perf_counter() - started
    publisher.stop()
    connection.stop()
    publisher.outbox.close()
    return len(messages) / elapsed


def run_end_to_end(
    config: Config, messages: list[tuple[str, bytes]], run: int, workdir: Path
) -> float:
    # the core takes a candidate only on its own source's topic: this run's source
    messages = payloads(len(messages), f"bench-e2e{run}")
    store = SqliteCandidateInbox(workdir / f"inbox{run}.sqlite3")
    core_connection = bootstrap.mqtt_connection(config, f"benchcore{run}", manual_ack=True)
    core_outbox = bootstrap.edge_publisher(config, f"benchcore{run}", core_connection)
    ingest = CandidateIngest(
        store,
        bootstrap.contract_publisher(config, core_outbox),
        Source(kind=SourceKind.CORE, id="bench-core"),
        receipts=bootstrap.MqttReceipts(config, core_connection, f"benchcore{run}"),
    )
    core_connection.subscribe(
        f"{config.mqtt.topic_root}/candidates/camera/bench-e2e{run}", ingest.submit
    )
    ingest.start()
    core_outbox.start()
    assert core_connection.wait_connected(10)
    edge_connection = bootstrap.mqtt_connection(config, f"benchedge{run}")
    edge = bootstrap.edge_publisher(config, f"benchedge{run}", edge_connection)
    edge.start()
    assert edge_connection.wait_connected(10)
    time.sleep(0.3)
    started = time.perf_counter()
    for message_id, payload in messages:
        edge.publish(
            f"{config.mqtt.topic_root}/candidates/camera/bench-e2e{run}",
            payload,
            confirm_id=message_id,
        )
    if not edge.wait_drained(300):
        raise RuntimeError(f"end to end: {edge.outbox.queued_messages} unconfirmed")
    elapsed = time.perf_counter() - started
    stored = store.count()
    for stoppable in (edge, core_outbox):
        stoppable.stop()
    edge_connection.stop()
    core_connection.stop()
    ingest.stop()
    edge.outbox.close()
    core_outbox.outbox.close()
    store.close()
    if stored != len(messages):
        raise RuntimeError(f"end to end: stored {stored} of {len(messages)}")
    return len(messages) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "mqtt_outbox.json")
    args = parser.parse_args()

    messages = payloads(args.count)
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="citygw-bench-") as tmp:
        workdir = Path(tmp)
        broker = MosquittoBroker(workdir / "mosquitto")
        broker.start()
        config = Config.model_validate(
            {
                "instance": "bench",
                "state_dir": str(workdir / "state"),
                "mqtt": {"port": broker.port},
            }
        )
        figures: dict[str, list[float]] = {
            "raw_paho_qos1": [],
            "outbox_to_puback": [],
            "outbox_end_to_end": [],
        }
        try:
            for run in range(args.repeat):
                figures["raw_paho_qos1"].append(
                    run_raw(broker, messages, config.outbox.inflight_window)
                )
                figures["outbox_to_puback"].append(run_outbox(config, messages, run))
                figures["outbox_end_to_end"].append(run_end_to_end(config, messages, run, workdir))
                print(
                    f"run {run + 1}: raw {figures['raw_paho_qos1'][-1]:.0f}/s, "
                    f"outbox {figures['outbox_to_puback'][-1]:.0f}/s, "
                    f"end to end {figures['outbox_end_to_end'][-1]:.0f}/s",
                    flush=True,
                )
        finally:
            broker.stop()

    median = {name: statistics.median(values) for name, values in figures.items()}
    ratio = median["outbox_to_puback"] / median["raw_paho_qos1"]
    result = {
        "benchmark": "mqtt_outbox",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in load_at_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "count": args.count,
        "repeat": args.repeat,
        "inflight_window": config.outbox.inflight_window,
        "candidates_per_s_median": {name: round(value, 1) for name, value in median.items()},
        "candidates_per_s_runs": {
            name: [round(v, 1) for v in values] for name, values in figures.items()
        },
        "ratio_outbox_vs_raw": round(ratio, 3),
        "ratio_per_run": [
            round(o / r, 3)
            for o, r in zip(figures["outbox_to_puback"], figures["raw_paho_qos1"], strict=True)
        ],
        "ratio_end_to_end_vs_raw": round(median["outbox_end_to_end"] / median["raw_paho_qos1"], 3),
        "target_ratio": 0.5,
        "meets_target": ratio >= 0.5,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["candidates_per_s_median"]))
    print(f"outbox / raw paho QoS 1 = {ratio:.2f} (target >= 0.5); written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
