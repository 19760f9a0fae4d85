"""Benchmark: what refusing the fuzz corpus costs the core, without a broker (issue 15).

    .venv/bin/python bench/poison_refusals.py [--repeat 5] [--times 4]

Two figures, each thread CPU (less sensitive than the wall clock to a shared machine):

- by kind: `parse_message` on each corpus payload (the corpus of `bench/core_ingest.py
  --poison`), then what the ingest makes of a refusal (`message_id_of`, the dead-letter record,
  the message for the dead-letter topic and its JSON); the median of ``--repeat`` passes, summed
  by refusal code (payloads over 1 MiB apart);
- the worker: the core's own `CandidateIngest` (built as `citygw core` builds it: SQLite, the
  dead-letter store, the durable outbox) fed the corpus ``--times`` over, straight into its
  queue, with the broker client left out; its worker thread's CPU per refused message,
  ``--repeat`` runs on fresh databases (the median is printed).

`bench/core_ingest.py --poison-only` measures the same poison end to end, interleaved with
valid candidates, through Mosquitto (where paho's reading of the 5-9 MB payloads adds its own).
Nothing is written to bench/results: the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.mqtt.broker import free_port  # noqa: E402
from bench.core_ingest import config_for, poison_lines  # noqa: E402
from gateway import bootstrap  # noqa: E402
from gateway.contract import (  # noqa: E402
    CandidateCase,
    ContractError,
    Source,
    SourceKind,
    dead_letter_for,
    parse_message,
)
from gateway.core.daemon import build_core  # noqa: E402
from gateway.dead_letters import DeadLetterRecord, message_id_of  # noqa: E402

TOPIC = "citygw/v1/candidates/inspector/bench"
BIG = 1024 * 1024


class _Message:
    """An inbound message as the ingest sees one; acknowledging it is a no-op here."""

    __slots__ = ("payload", "topic")

    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic = topic
        self.payload = payload

    def ack(self) -> bool:
        return True


class _NoBroker:
    """Where the core would connect: nowhere (it is never started)."""

    host = "127.0.0.1"
    port = 1


def _kind(code: str, size: int) -> str:
    return f"{code} (> 1 MiB)" if size > BIG else code


def by_kind(payloads: list[bytes], repeat: int) -> dict[str, tuple[int, float, float]]:
    """Refusal code -> (payloads, parse ms, dead-letter ms): medians of ``repeat`` passes."""
    consumer = Source(kind=SourceKind.DAEMON, id="core-bench")
    at = datetime.now(UTC)
    passes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    counts: dict[str, int] = {}
    for _ in range(repeat):
        parse: dict[str, float] = defaultdict(float)
        letter: dict[str, float] = defaultdict(float)
        for payload in payloads:
            started = time.thread_time_ns()
            try:
                parse_message(payload, expect=CandidateCase)
            except ContractError as error:  # else: a candidate the ingest refuses by its topic
                parsed = time.thread_time_ns()
                kind = _kind(error.code, len(payload))
                DeadLetterRecord.of(
                    topic=TOPIC,
                    payload=payload,
                    error=error,
                    at=at,
                    message_id=message_id_of(payload),
                )
                dead_letter_for(
                    topic=TOPIC, payload=payload, error=error, consumer=consumer
                ).to_json()
                parse[kind] += (parsed - started) / 1e6
                letter[kind] += (time.thread_time_ns() - parsed) / 1e6
                counts[kind] = counts.get(kind, 0) + 1
            else:
                kind = "parsed (refused by topic)"
                parse[kind] += (time.thread_time_ns() - started) / 1e6
                letter[kind] += 0.0
                counts[kind] = counts.get(kind, 0) + 1
        for kind in parse:
            passes[kind].append((parse[kind], letter[kind]))
    return {
        kind: (
            counts[kind] // repeat,
            statistics.median(p for p, _ in runs),
            statistics.median(d for _, d in runs),
        )
        for kind, runs in passes.items()
    }


def worker_cpu_per_refusal(payloads: list[bytes], times: int, state: Path) -> float:
    """Seconds of the ingest worker thread's CPU per refused message."""
    url = f"sqlite:///{state / 'core.sqlite3'}"
    config = config_for(_NoBroker(), state, url, free_port())  # type: ignore[arg-type]
    core = build_core(config, with_api=False)
    core.ingest.start()
    bootstrap.settle_heap()  # as `citygw core` does once started
    try:
        worker = next(t for t in threading.enumerate() if t.name == "ingest.worker")
        assert worker.ident is not None
        clock = time.pthread_getcpuclockid(worker.ident)
        started = time.clock_gettime(clock)
        for _ in range(times):
            for payload in payloads:
                core.ingest.submit(_Message(TOPIC, payload))
        if not core.ingest.wait_idle(120):
            raise TimeoutError("the refusals were not all kept within 120 s")
        cpu = time.clock_gettime(clock) - started
        refused = core.ingest.stats.dead_lettered
        if refused != times * len(payloads):
            raise RuntimeError(f"{refused} dead letters after {times * len(payloads)} messages")
        return cpu / refused
    finally:
        core.ingest.stop()
        core.publisher.outbox.close()
        core.service.store.close()  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--times", type=int, default=4, help="corpus passes per worker run")
    parser.add_argument("--poison", type=int, default=300, help="generated poison messages")
    args = parser.parse_args()
    payloads = poison_lines(args.poison)
    print(
        f"{len(payloads)} poison payloads, {sum(map(len, payloads))} bytes; load {os.getloadavg()}"
    )
    figures = by_kind(payloads, args.repeat)
    total = (0.0, 0.0)
    for kind, (count, parse, letter) in sorted(figures.items(), key=lambda f: -f[1][1] - f[1][2]):
        total = (total[0] + parse, total[1] + letter)
        print(f"  {kind:28s} {count:4d}  parse {parse:8.3f} ms  dead letter {letter:7.3f} ms")
    print(
        f"  {'all':28s} {len(payloads):4d}  parse {total[0]:8.3f} ms  dead letter {total[1]:7.3f} ms"
    )
    with tempfile.TemporaryDirectory(prefix="citygw-bench-") as tmp:
        runs = []
        for run in range(args.repeat):
            state = Path(tmp) / f"run{run}"
            state.mkdir()
            runs.append(worker_cpu_per_refusal(payloads, args.times, state))
    print(
        f"ingest worker CPU per refused message: median {1e6 * statistics.median(runs):.0f} us "
        f"(runs: {[round(1e6 * r) for r in runs]}); load {os.getloadavg()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
