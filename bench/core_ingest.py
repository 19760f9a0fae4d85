"""Benchmark of the core: candidates/s from MQTT to committed cases, and API latency.

    .venv/bin/python bench/core_ingest.py [--candidates 5000] [--repeat 3] [--rate 200] [--seconds 10]
    .venv/bin/python bench/core_ingest.py --poison-only --repeat 9   # the poison ratio alone

Everything runs on loopback: a Mosquitto on a free port, the core's ingest in this
process, SQLite (a file) and PostgreSQL (a throw-away server, Debian's postgresql).

- ingest: N candidates are published (QoS 1) by a producer process of its own
  (``mosquitto_pub -l``); the time from the first publish until the database holds N
  cases, run ``--repeat`` times on fresh databases (the median is reported, every run
  is kept). Each core run also gives ``events_published_s``: when the broker had
  acknowledged the case event of every one of those cases (the relay's lag). Baseline
  in the same run: the foundation's candidate inbox (one row per candidate, no
  workflow) through the same `CandidateIngest`, so the ratio shows what the workflow
  costs.
- API: GET /api/v1/cases (a page of 20) and GET /api/v1/cases/{id} at a fixed request
  rate (open loop: requests are sent on schedule whether or not earlier ones came
  back; latency counts from when each was due), p50/p99 latency and the core's CPU per
  request; baseline: GET /healthz at the same rate. The client is a light asyncio one:
  it shares the machine's CPUs with the server it measures.
- ingest figures also give this process's CPU per candidate (less sensitive than the
  wall clock to what else the machine is running): until the N are stored, and
  ``..._all_done``, until the relay has published their case events and every refusal is
  kept and its dead letter acknowledged (background work that lags the stored count
  falls partly within the first window, more of it the longer the window is).
- poison: the same SQLite ingest with the fuzz corpus (`tests/foundation/poison_corpus`:
  nesting 10 000 deep, 5 MB payloads, wrong types, another source's candidates...)
  interleaved, evenly spread; the time until the N valid candidates are stored, and its
  ratio to the clean runs (the target: >= 0.9). Clean and poisoned runs alternate, and
  the two runs of a round carry the same valid candidates. The payloads over 1 MiB (5, 5
  and 9 MB) are published beside the stream by a producer of their own (`publish_plan`;
  ``--one-stream``: in the stream, as before). Also the ratio of the core process's CPU
  per valid candidate (clean / poisoned), both ways (``_cpu``, ``_cpu_all_done``).

Results: ``bench/results/core_ingest.json`` (and a line per figure on stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from adapters.mqtt.broker import MosquittoBroker, free_port  # noqa: E402
from adapters.storage.candidate_inbox import SqliteCandidateInbox  # noqa: E402
from adapters.storage.postgres_server import PostgresServer  # noqa: E402
from gateway import bootstrap  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.contract import (  # noqa: E402
    CandidateCase,
    Location,
    Source,
    SourceKind,
    parse_message,
)
from gateway.core.daemon import build_core, build_service  # noqa: E402
from gateway.core.ports import CaseFilter  # noqa: E402
from gateway.ingest import CandidateIngest  # noqa: E402
from tests.foundation.poison_corpus import corpus  # noqa: E402

CODES = ["0102", "0104", "0201", "0505", "0506", "0507", "0510", "0401"]


def candidates(count: int, run: str) -> list[bytes]:
    """Candidates over 8 event codes and 2 849 grids; some near each other by grid."""
    source = Source(kind=SourceKind.INSPECTOR, id="bench")
    out = []
    rng = random.Random(run)
    for n in range(count):
        grid = f"320706{900 + n % 7:03d}{n % 11:03d}{n % 37:02d}"
        # a third carry a position (inspectors' phones), spread over a 20 km square
        lat = lon = None
        if n % 3 == 0:
            lat, lon = 34.5 + rng.random() * 0.2, 119.1 + rng.random() * 0.2
        out.append(
            CandidateCase.create(
                source=source,
                id=f"bench-{run}-{n:07d}",
                event_code=CODES[n % len(CODES)],
                title=f"bench {n}",
                location=Location(grid_code=grid, lat=lat, lon=lon),
            ).to_json()
        )
    return out


def config_for(broker: MosquittoBroker, state: Path, database_url: str, http_port: int) -> Config:
    return Config.model_validate(
        {
            "instance": "bench",
            "state_dir": str(state),
            "mqtt": {"host": broker.host, "port": broker.port},
            "core": {"database_url": database_url, "http_port": http_port},
            "logging": {"level": "WARNING"},
        }
    )


#: payloads larger than this are sent by a ``mosquitto_pub -f`` of their own: its ``-l``
#: reads a line in 1 KiB steps, which cost it seconds of CPU for the corpus's 5 and 9 MB
#: payloads (the producer's time, not the core's); and each ``-l`` process waits ~0.2 s
#: at the end of its input, so the stream is not cut around them either
WHOLE_FILE_BYTES = 1024 * 1024


def payload_file(payloads: list[bytes], workdir: Path, name: str = "payloads.jsonl") -> Path:
    """The payloads a line each, for ``mosquitto_pub -l``."""
    if any(b"\n" in p for p in payloads):
        raise ValueError("a payload spans lines; mosquitto_pub -l sends a message per line")
    lines = workdir / name
    lines.write_bytes(b"\n".join(payloads) + b"\n")
    return lines


def publish_plan(payloads: list[bytes], workdir: Path, one_stream: bool = False) -> list[Path]:
    """The files to publish: the first holds the payloads of up to `WHOLE_FILE_BYTES` a line
    each, in order (one ``mosquitto_pub -l``); each larger payload follows as a file of its
    own (``.bin``), published by a second producer at the same time, one after another,
    as a fuzzer beside the edge daemons would. ``one_stream``: every payload in the one
    line file (how results before 2026-12-05 08:00 were made)."""
    if one_stream:
        return [payload_file(payloads, workdir)]
    small = [p for p in payloads if len(p) <= WHOLE_FILE_BYTES]
    plan = [payload_file(small, workdir)]
    for n, payload in enumerate(p for p in payloads if len(p) > WHOLE_FILE_BYTES):
        whole = workdir / f"whole{n:03d}.bin"
        whole.write_bytes(payload)
        plan.append(whole)
    return plan


def publish_all(config: Config, plan: list[Path]) -> None:
    """Publish every message of ``plan`` at QoS 1 from producer processes of their own
    (Mosquitto's ``mosquitto_pub``): ``-l`` for the line file, and beside it, one after
    another, ``-f`` for each whole-file message. In production candidates come from other
    daemons, so the producers must not share the measured process's CPU or GIL."""
    topic = bootstrap.topics(config).candidate("inspector", "bench")
    command = ["mosquitto_pub", "-h", config.mqtt.host, "-p", str(config.mqtt.port)]
    command += ["-t", topic, "-q", "1"]
    lines, wholes = plan[0], plan[1:]
    failures: list[str] = []

    def run(arguments: list[str], stdin: Path | None = None) -> None:
        with stdin.open("rb") if stdin is not None else open(os.devnull, "rb") as source:
            done = subprocess.run(arguments, stdin=source, capture_output=True, timeout=300)
        if done.returncode != 0:
            failures.append(f"mosquitto_pub failed ({done.returncode}): {done.stderr[-500:]!r}")

    def whole_files() -> None:
        for n, path in enumerate(wholes):
            run([*command, "-i", f"bench-fuzzer-{os.getpid()}-{n}", "-f", str(path)])

    fuzzer = threading.Thread(target=whole_files, name="bench.fuzzer")
    fuzzer.start()
    run([*command, "-i", f"bench-producer-{os.getpid()}", "-l"], stdin=lines)
    fuzzer.join()
    if failures:
        raise RuntimeError("; ".join(failures))


def wait_for(count: Callable[[], int], target: int, timeout: float = 600) -> None:
    """Poll a count until it reaches ``target``: seldom while far off (the poll runs in the
    process it measures), every 10 ms near the end (so the end is timed to ~10 ms)."""
    deadline = time.monotonic() + timeout
    while (now := count()) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {now} of {target} after {timeout}s")
        time.sleep(0.01 if now >= 0.9 * target else 0.1)


def poison_lines(count: int) -> list[bytes]:
    """The fuzz corpus as lines for `publish_all`; those with a newline or a NUL byte are
    left out (``mosquitto_pub -l`` reads C strings: a NUL ends its input). On the
    producer's topic, a corpus candidate of another source is refused as such."""
    return [p.payload for p in corpus(count) if p.payload and not {10, 0} & set(p.payload)]


def interleave(valid: list[bytes], poison: list[bytes]) -> list[bytes]:
    """``poison`` spread evenly among ``valid``."""
    if not poison:
        return valid
    out: list[bytes] = []
    every = max(1, len(valid) // len(poison))
    pending = list(poison)
    for index, payload in enumerate(valid):
        if index % every == 0 and pending:
            out.append(pending.pop(0))
        out.append(payload)
    return out + pending


def bench_core_ingest(
    broker: MosquittoBroker,
    url: str,
    n: int,
    state: Path,
    poison: list[bytes] | None = None,
    *,
    seed: str | None = None,
    one_stream: bool = False,
) -> dict[str, float]:
    """``seed``: names the valid candidates (the clean and poisoned runs of one round carry
    the same ones); by default the run's directory."""
    config = config_for(broker, state, url, free_port())
    core = build_core(config, with_api=False)
    core.start()
    bootstrap.settle_heap()  # as `citygw core` does once started
    try:
        if not core.connection.wait_connected(15):
            raise RuntimeError("core could not connect")
        time.sleep(0.5)  # the subscription is made on connect; let its SUBACK arrive
        valid = candidates(n, seed or state.name)
        plan = publish_plan(interleave(valid, poison or []), state, one_stream)
        started, cpu_started = time.perf_counter(), time.process_time()
        publisher = threading.Thread(target=publish_all, args=(config, plan))
        publisher.start()
        # the ingest counts a candidate stored after its commit: polling that counter costs
        # the measured process nothing; the database's count is checked once at the end
        wait_for(lambda: core.ingest.stats.stored, n)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # the case events of those cases, still being published: how far the relay lags
        if not core.relay.wait_idle(120):
            raise RuntimeError("the case events were not all published within 120 s")
        relayed = time.perf_counter() - started
        # and the rest of the run's work: every refusal kept and its dead letter acknowledged
        # by the broker. The CPU until then counts the relay's lag and the dead letters in
        # full on both sides (the CPU until stored counts what falls within that window)
        if not (core.ingest.wait_idle(120) and core.publisher.wait_drained(120)):
            raise RuntimeError("the dead letters were not all kept and published within 120 s")
        cpu_done = time.process_time() - cpu_started
        publisher.join()
        stored = core.service.store.count_cases()
        if stored != n:
            raise RuntimeError(f"{stored} cases in the database after {n} candidates")
        refused = core.ingest.stats.dead_lettered
        if refused != len(poison or []):
            raise RuntimeError(f"{refused} dead letters after {len(poison or [])} poison messages")
        figures = {**_ingest_figures(n, elapsed, cpu), "events_published_s": round(relayed, 3)}
        figures["process_cpu_ms_per_candidate_all_done"] = round(1000 * cpu_done / n, 3)
        figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
        return {**figures, "poison": len(poison)} if poison else figures
    finally:
        core.stop()


def _ingest_figures(n: int, elapsed: float, cpu: float) -> dict[str, float]:
    """Throughput, and this process's CPU per candidate (producer, broker client, ingest,
    relay: everything but the broker and the PostgreSQL server), less sensitive to the
    machine's other load than the wall clock."""
    return {
        "candidates": n,
        "seconds": round(elapsed, 3),
        "per_s": round(n / elapsed, 1),
        "process_cpu_ms_per_candidate": round(1000 * cpu / n, 3),
    }


def bench_baseline_ingest(broker: MosquittoBroker, n: int, state: Path) -> dict[str, float]:
    config = config_for(broker, state, "sqlite:///unused.sqlite3", free_port())
    store = SqliteCandidateInbox(state / "inbox.sqlite3")
    connection = bootstrap.mqtt_connection(config, "baseline", manual_ack=True)
    publisher_out = bootstrap.edge_publisher(config, "baseline", connection)
    ingest = CandidateIngest(
        store,
        bootstrap.contract_publisher(config, publisher_out),
        bootstrap.daemon_source(config, "baseline"),
        max_batch=config.core.ingest_batch,
    )
    connection.subscribe(bootstrap.topics(config).all_candidates, ingest.submit)
    ingest.start()
    publisher_out.start()
    connection.start()
    bootstrap.settle_heap()  # as the core
    try:
        if not connection.wait_connected(15):
            raise RuntimeError("baseline could not connect")
        time.sleep(0.5)
        plan = [payload_file(candidates(n, state.name), state)]
        started, cpu_started = time.perf_counter(), time.process_time()
        publisher = threading.Thread(target=publish_all, args=(config, plan))
        publisher.start()
        wait_for(store.count, n)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        publisher.join()
        return _ingest_figures(n, elapsed, cpu)
    finally:
        connection.stop()
        ingest.stop()
        publisher_out.stop()
        publisher_out.outbox.close()
        store.close()


def latency(
    host: str, port: int, path: str, headers: dict[str, str], rate: float, seconds: float
) -> dict[str, float]:
    """Open loop: request i is due at start + i/rate and sent then, whether or not earlier
    ones came back (a keep-alive connection that is free, else a new one); its latency
    counts from when it was due, so a server that falls behind is not flattered.

    The client is asyncio on raw HTTP/1.1 (tens of microseconds a request), because it
    shares this machine's CPUs with the server it measures.
    """
    return asyncio.run(_open_loop(host, port, path, headers, rate, seconds))


async def _open_loop(
    host: str, port: int, path: str, headers: dict[str, str], rate: float, seconds: float
) -> dict[str, float]:
    total = int(rate * seconds)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []
    results: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one(due: float) -> None:
        nonlocal errors
        try:
            if idle:
                reader, writer = idle.pop()
            else:
                reader, writer = await asyncio.open_connection(host, port)
                opened.append(writer)
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            took = loop.time() - due
            idle.append((reader, writer))
            if status.split(b" ", 2)[1] == b"200":
                results.append(took * 1000)
            else:
                errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors += 1

    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    for writer in opened:
        writer.close()
    results.sort()
    return {
        "requests": total,
        "errors": errors,
        "rate_rps": rate,
        "connections": len(opened),
        "p50_ms": round(statistics.median(results), 2) if results else float("nan"),
        "p99_ms": round(results[min(len(results) - 1, int(len(results) * 0.99))], 2)
        if results
        else float("nan"),
    }


def bench_api(
    broker: MosquittoBroker, state: Path, rate: float, seconds: float
) -> dict[str, dict[str, float]]:
    """The API served by a real `citygw core` process (so the client does not share its GIL)."""
    port = free_port()
    config = config_for(broker, state, f"sqlite:///{state / 'api.sqlite3'}", port)
    service, auth = build_service(config)
    n = 2000
    batch = [parse_message(p, expect=CandidateCase) for p in candidates(n, "api")]
    for i in range(0, n, 200):
        service.store_candidates(batch[i : i + 200])  # type: ignore[arg-type]
    auth.add_user("bench", "operator", "bench-password")
    case_id = service.store.list_cases(CaseFilter(limit=1))[0][0].id
    service.store.close()  # type: ignore[attr-defined]
    config_file = state / "core.yaml"
    config_file.write_text(json.dumps(config.model_dump(mode="json")))
    with (state / "core.log").open("ab") as log:
        core = subprocess.Popen(
            [sys.executable, "-m", "gateway", "-c", str(config_file), "core", "--quiet"],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        with httpx.Client(base_url=base, timeout=10, limits=limits) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or core.poll() is not None:
                    raise RuntimeError(f"the core API did not come up; see {state / 'core.log'}")
                time.sleep(0.1)
            login = {"name": "bench", "password": "bench-password"}
            token = client.post("/api/v1/auth/login", json=login).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(50):  # warm up connections and caches
                client.get("/api/v1/cases?limit=20", headers=headers)
            phases = {
                "baseline_healthz": ("/healthz", {}),
                "list_cases": ("/api/v1/cases?limit=20", headers),
                "get_case": (f"/api/v1/cases/{case_id}", headers),
            }
            results: dict[str, dict[str, float]] = {}
            for name, (url, phase_headers) in phases.items():
                cpu_before = _process_cpu_s(core.pid)
                figures = latency("127.0.0.1", port, url, phase_headers, rate, seconds)
                cpu_after = _process_cpu_s(core.pid)
                if cpu_before is not None and cpu_after is not None:
                    # the core's own CPU time (all threads) per request: what the load costs it
                    cpu_ms = 1000 * (cpu_after - cpu_before) / figures["requests"]
                    figures["server_cpu_ms_per_request"] = round(cpu_ms, 2)
                results[name] = figures
            return results
    finally:
        core.send_signal(signal.SIGTERM)
        try:
            core.wait(30)
        except subprocess.TimeoutExpired:
            core.kill()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0, help="API requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="API measurement length")
    parser.add_argument(
        "--repeat", type=int, default=3, help="ingest runs per store (the median is reported)"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--poison",
        type=int,
        default=300,
        help="generated poison messages interleaved (besides the hand-made ones); 0: none",
    )
    parser.add_argument(
        "--one-stream",
        action="store_true",
        help="send the poisoned runs' payloads through one mosquitto_pub -l, the multi-megabyte "
        "ones too (how results were made before 2026-12-05 08:00; the producer then spends "
        "seconds reading those lines)",
    )
    parser.add_argument(
        "--poison-only",
        action="store_true",
        help="only the clean and poisoned SQLite ingest rounds (no baseline, PostgreSQL or API), "
        "printed; written only to an --out given (never over the full results)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.poison_only and not args.poison:
        parser.error("--poison-only needs --poison > 0")
    if args.out is None and not args.poison_only:
        args.out = ROOT / "bench" / "results" / "core_ingest.json"

    results: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_start": os.getloadavg()[0],
        },
        "parameters": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
            if key != "out"
        },
    }
    with tempfile.TemporaryDirectory(prefix="citygw-bench-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(root / "mosquitto")
        broker.start()
        postgres = None
        try:
            n, repeat = args.candidates, args.repeat
            base = (
                None
                if args.poison_only
                else _runs(
                    "baseline inbox ingest",
                    [
                        bench_baseline_ingest(broker, n, _dir(root, f"baseline{r}"))
                        for r in range(repeat)
                    ],
                )
            )
            clean: list[dict[str, float]] = []
            poisoned: list[dict[str, float]] = []
            poison = poison_lines(args.poison) if args.poison else []
            for r in range(repeat):  # alternating: both meet the same machine
                # the same valid candidates in both runs of a round: only the poison differs
                clean.append(
                    bench_core_ingest(
                        broker,
                        f"sqlite:///{root / f'core{r}.sqlite3'}",
                        n,
                        _dir(root, f"sqlite{r}"),
                        seed=f"round{r}",
                    )
                )
                if poison:
                    poisoned.append(
                        bench_core_ingest(
                            broker,
                            f"sqlite:///{root / f'poisoned{r}.sqlite3'}",
                            n,
                            _dir(root, f"poisoned{r}"),
                            poison,
                            seed=f"round{r}",
                            one_stream=args.one_stream,
                        )
                    )
            lite = _runs("core ingest, SQLite", clean)
            ingest: dict[str, object] = {"core_sqlite": lite}
            if base is not None:
                ingest["baseline_inbox"] = base
                ingest["core_sqlite_vs_baseline"] = round(lite["per_s"] / base["per_s"], 3)
            if poisoned:
                bad = _runs(f"core ingest, SQLite, {len(poison)} poison interleaved", poisoned)
                ingest["poison_corpus"] = {
                    "messages": len(poison),
                    "bytes": sum(map(len, poison)),
                    "sent_whole_file": 0
                    if args.one_stream
                    else sum(len(p) > WHOLE_FILE_BYTES for p in poison),
                    "producer": "one mosquitto_pub -l"
                    if args.one_stream
                    else f"one mosquitto_pub -l; each payload over {WHOLE_FILE_BYTES} bytes "
                    "by a mosquitto_pub -f of its own beside it, from the start, one after another",
                }
                ingest["core_sqlite_poisoned"] = bad
                ingest["core_sqlite_poisoned_vs_clean"] = round(bad["per_s"] / lite["per_s"], 3)
                # the core process's CPU per valid candidate, clean / poisoned: what the poison
                # costs the core itself, less sensitive to the other work on a shared machine
                ingest["core_sqlite_poisoned_vs_clean_cpu"] = round(
                    lite["process_cpu_ms_per_candidate"] / bad["process_cpu_ms_per_candidate"], 3
                )
                # the same with all the run's work counted (the relay's lag, every dead letter)
                ingest["core_sqlite_poisoned_vs_clean_cpu_all_done"] = round(
                    lite["process_cpu_ms_per_candidate_all_done"]
                    / bad["process_cpu_ms_per_candidate_all_done"],
                    3,
                )
                print(f"poisoned / clean: {ingest['core_sqlite_poisoned_vs_clean']}", flush=True)
                print(
                    f"poisoned / clean, CPU per candidate: {ingest['core_sqlite_poisoned_vs_clean_cpu']}"
                    f" ({lite['process_cpu_ms_per_candidate']} / {bad['process_cpu_ms_per_candidate']} ms);"
                    f" all work done: {ingest['core_sqlite_poisoned_vs_clean_cpu_all_done']}"
                    f" ({lite['process_cpu_ms_per_candidate_all_done']}"
                    f" / {bad['process_cpu_ms_per_candidate_all_done']} ms)",
                    flush=True,
                )
            if base is not None and not args.skip_postgres:
                postgres = PostgresServer()
                postgres.start()
                admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
                with admin.connect() as c:
                    for r in range(repeat):
                        c.exec_driver_sql(f"CREATE DATABASE bench{r}")
                admin.dispose()
                pg = _runs(
                    "core ingest, PostgreSQL",
                    [
                        bench_core_ingest(
                            broker, postgres.url(f"bench{r}"), n, _dir(root, f"postgres{r}")
                        )
                        for r in range(repeat)
                    ],
                )
                ingest["core_postgres"] = pg
                ingest["core_postgres_vs_baseline"] = round(pg["per_s"] / base["per_s"], 3)
            results["ingest"] = ingest
            if not args.poison_only:
                api = bench_api(broker, _dir(root, "api"), args.rate, args.seconds)
                for name, figures in api.items():
                    print(
                        f"API {name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms at {figures['rate_rps']} rps ({figures['errors']} errors), server CPU {figures.get('server_cpu_ms_per_request')} ms/request",
                        flush=True,
                    )
                results["api"] = api
        finally:
            if postgres is not None:
                postgres.stop()
            broker.stop()
    results["machine"]["load_avg_1m_at_end"] = os.getloadavg()[0]  # type: ignore[index]
    if args.out is None:
        print(json.dumps(results["machine"]))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"results written to {args.out}")
    return 0


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runs(label: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    """The median run's throughput and CPU, and every run (each on a fresh database)."""
    per_s = statistics.median(r["per_s"] for r in runs)
    cpu = statistics.median(r["process_cpu_ms_per_candidate"] for r in runs)
    print(f"{label}: {per_s} candidates/s (runs: {[r['per_s'] for r in runs]})", flush=True)
    figures: dict[str, Any] = {
        "candidates": runs[0]["candidates"],
        "per_s": per_s,
        "process_cpu_ms_per_candidate": cpu,
    }
    if all("process_cpu_ms_per_candidate_all_done" in r for r in runs):
        figures["process_cpu_ms_per_candidate_all_done"] = statistics.median(
            r["process_cpu_ms_per_candidate_all_done"] for r in runs
        )
    return {**figures, "runs": runs}


def _dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
