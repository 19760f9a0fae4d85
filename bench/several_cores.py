"""Benchmark: PostgreSQL intake with one core and with two cores splitting the stream.

    .venv/bin/python bench/several_cores.py [--candidates 10000] [--repeat 3]

Both sides in the same run, on the same candidates (`bench/core_ingest.py`'s mix: 8 event
codes, 2 849 grids, a third with a position), alternating so both meet the same machine:

- one core: ``citygw core`` as its own process, ``core.intake.share_group`` set (the
  same clean session and shared subscription as in the pair, so the only difference is
  the number of cores);
- two cores: two such processes (instances ``bench-a``/``bench-b``) in one share group,
  on one PostgreSQL database.

Each run gets a fresh database copied from a migrated template; the cores are started
and online (their retained status) before the clock starts. The candidates are published
at QoS 1 by ``mosquitto_pub -l`` (a process of its own, as other daemons are); the time
runs from the first publish until the database holds a case for each. Also measured: CPU
seconds of each core process, of the broker and of PostgreSQL over the run, and the
machine's load average (other work on this machine counts against every figure).

Results: ``bench/results/several_cores.json`` (and a line per run on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from adapters.mqtt import MqttConnection, ReceivedMessage  # noqa: E402
from adapters.mqtt.broker import MosquittoBroker, free_port  # noqa: E402
from adapters.storage.database import migrate, open_engine  # noqa: E402
from adapters.storage.postgres_server import PostgresServer  # noqa: E402
from bench.core_ingest import _process_cpu_s, candidates, payload_file, publish_all  # noqa: E402
from gateway import bootstrap  # noqa: E402
from gateway.config import Config  # noqa: E402


def core_config(
    broker: MosquittoBroker, state: Path, url: str, instance: str, batch: int
) -> dict[str, Any]:
    return {
        "instance": instance,
        "state_dir": str(state / instance),
        "mqtt": {"host": broker.host, "port": broker.port},
        "core": {
            "database_url": url,
            "http_port": free_port(),
            "ingest_batch": batch,
            "intake": {"share_group": "bench"},
        },
        "logging": {"level": "WARNING"},
    }


class Cores:
    """``count`` `citygw core` processes on one database, online before `__enter__` returns."""

    def __init__(
        self, broker: MosquittoBroker, state: Path, url: str, count: int, batch: int
    ) -> None:
        self._documents = [
            core_config(broker, state, url, f"bench-{chr(ord('a') + n)}", batch)
            for n in range(count)
        ]
        self._state = state
        self.processes: list[subprocess.Popen[bytes]] = []
        self.config = Config.model_validate(self._documents[0])

    def __enter__(self) -> Cores:
        online = _OnlineWatch(self.config)
        try:
            for document in self._documents:
                path = self._state / f"{document['instance']}.json"
                path.write_text(json.dumps(document))
                log = (self._state / f"{document['instance']}.log").open("ab")
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "gateway", "-c", str(path), "core", "--quiet"],
                        cwd=ROOT,
                        stdout=log,
                        stderr=log,
                        stdin=subprocess.DEVNULL,
                    )
                )
            online.wait({d["instance"] for d in self._documents}, 120)
        except BaseException:
            self.__exit__()
            raise
        finally:
            online.close()
        time.sleep(1.0)  # subscriptions are made on connect: let their SUBACKs come back
        return self

    def cpu_s(self) -> list[float]:
        return [_process_cpu_s(p.pid) or 0.0 for p in self.processes]

    def __exit__(self, *_exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


class _OnlineWatch:
    def __init__(self, config: Config) -> None:
        self._seen: dict[str, bytes] = {}
        self._changed = threading.Condition()
        self._connection = MqttConnection(
            config.mqtt, f"bench-watch-{os.getpid()}", clean_session=True
        )
        self._connection.subscribe(bootstrap.topics(config).all_daemon_status, self._on)
        self._connection.start()

    def _on(self, message: ReceivedMessage) -> None:
        with self._changed:
            self._seen[message.topic.rsplit("/", 1)[-1]] = message.payload
            self._changed.notify_all()

    def wait(self, instances: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(b'"online"' in self._seen.get(i, b"") for i in instances):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"cores not online: {sorted(instances)}")
                self._changed.wait(min(left, 0.5))

    def close(self) -> None:
        self._connection.stop(publish_offline=False)


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process and its children (PostgreSQL: the postmaster, its backends)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree = {root} | {pid for pid, parent in parents.items() if parent == root}
    return sum(_process_cpu_s(pid) or 0.0 for pid in tree)


def pid_with_arg(marker: str) -> int:
    """The process whose command line holds ``marker`` (a folder of this run's)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return int(cmdline.parent.name)
        except OSError:
            continue
    raise LookupError(f"no process with {marker} in its command line")


def postmaster_pid(postgres: PostgresServer) -> int:
    return int((postgres.data_dir / "postmaster.pid").read_text().split()[0])


def run_once(
    broker: MosquittoBroker,
    postgres: PostgresServer,
    database: str,
    count: int,
    lines: Path,
    n: int,
    state: Path,
    batch: int,
) -> dict[str, Any]:
    url = postgres.url(database)
    engine = sa.create_engine(url)
    load_before = os.getloadavg()[0]
    try:
        with Cores(broker, state, url, count, batch) as cores:
            cpu_before = cores.cpu_s()
            broker_pid = pid_with_arg(str(broker.data_dir))
            broker_before = _process_cpu_s(broker_pid) or 0.0
            pg_before = tree_cpu_s(postmaster_pid(postgres))
            started = time.perf_counter()
            publisher = threading.Thread(target=publish_all, args=(cores.config, lines))
            publisher.start()
            with engine.connect() as connection:
                query = sa.text("SELECT count(*) FROM cases")
                while (stored := connection.execute(query).scalar_one()) < n:
                    if time.perf_counter() - started > 600:
                        raise TimeoutError(f"only {stored} of {n} cases after 600 s")
                    time.sleep(0.02)
            elapsed = time.perf_counter() - started
            core_cpu = [
                after - before for after, before in zip(cores.cpu_s(), cpu_before, strict=True)
            ]
            broker_cpu = (_process_cpu_s(broker_pid) or 0.0) - broker_before
            pg_cpu = tree_cpu_s(postmaster_pid(postgres)) - pg_before
            publisher.join()
    finally:
        engine.dispose()
    figures = {
        "cores": count,
        "candidates": n,
        "seconds": round(elapsed, 3),
        "per_s": round(n / elapsed, 1),
        "core_cpu_s": [round(c, 2) for c in core_cpu],
        "core_cpu_ms_per_candidate": round(1000 * sum(core_cpu) / n, 3),
        "broker_cpu_s": round(broker_cpu, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        "load_avg_1m_before": round(load_before, 2),
    }
    print(json.dumps(figures), flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (median reported)")
    parser.add_argument("--batch", type=int, default=200, help="core.ingest_batch of the cores")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "several_cores.json"
    )
    args = parser.parse_args()

    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m_at_start": os.getloadavg()[0],
        },
        "candidates": args.candidates,
        "ingest_batch": args.batch,
    }
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="citygw-bench-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(root / "mosquitto")
        broker.start()
        postgres = PostgresServer()
        postgres.start()
        try:
            admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql("CREATE DATABASE template_bench")
            engine = open_engine(postgres.url("template_bench"))
            migrate(engine)
            engine.dispose()
            lines = payload_file(candidates(args.candidates, "several"), root)
            for r in range(args.repeat):
                for count in (1, 2):  # alternating: both meet the same machine
                    database = f"run{r}_{count}"
                    with admin.connect() as c:
                        c.exec_driver_sql(f"CREATE DATABASE {database} TEMPLATE template_bench")
                    state = root / database
                    state.mkdir()
                    runs[count].append(
                        run_once(
                            broker,
                            postgres,
                            database,
                            count,
                            lines,
                            args.candidates,
                            state,
                            args.batch,
                        )
                    )
            admin.dispose()
        finally:
            postgres.stop()
            broker.stop()
    one = statistics.median(r["per_s"] for r in runs[1])
    two = statistics.median(r["per_s"] for r in runs[2])
    results["one_core"] = {"per_s": one, "runs": runs[1]}
    results["two_cores"] = {"per_s": two, "runs": runs[2]}
    results["two_vs_one"] = round(two / one, 3)
    results["machine"]["load_avg_1m_at_end"] = os.getloadavg()[0]
    print(f"one core {one}/s, two cores {two}/s: {results['two_vs_one']}x", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
