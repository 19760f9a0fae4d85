"""Frame -> the operator's screen, measured end to end for bench/video_pipeline.py.

The real parts, on loopback: a Mosquitto (``MosquittoBroker``, as the tests start it),
`citygw core` as a process of its own (SQLite, its HTTP API), the video side's durable
outbox (``bootstrap.edge_publisher``: SQLite WAL, QoS 1, receipts), and a client of the
console's Server-Sent Events stream (``GET /api/v1/events/stream`` with a bearer token, as
the console reads it after logging in as an operator).

The scratch directory (``var/bench/e2e-*``: broker data, core database and log) is removed
after a run that measured, kept after one that failed.

The latency of a case is the wall time when its first ``case`` event arrived on the
stream minus the wall time its frame was handed to the pipeline (the case's
``facts.camera_id``/``facts.frame_seq`` name the frame; the bench camera remembers when
it submitted each one).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.mqtt.broker import MosquittoBroker, free_port
from gateway import bootstrap

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "citygw-bench-e2e"


class EndToEnd:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="e2e-", dir=REPO / "var" / "bench"))
        self.broker = MosquittoBroker(self.dir / "mosquitto")
        self.http_port = free_port()
        self.core: subprocess.Popen[bytes] | None = None
        self.arrivals: dict[str, tuple[float, dict[str, Any]]] = {}  # case id -> (when, data)
        self.window_start = 0.0
        self._token = ""
        self._stream_thread: threading.Thread | None = None
        self._publisher: Any = None
        self._connection: Any = None
        self.stream_error: str | None = None
        self.collected = False  # the scratch dir (broker, core database, logs) is kept otherwise

    def config_sections(self) -> dict[str, Any]:
        return {
            "instance": "bench",
            "state_dir": str(self.dir / "state"),
            "mqtt": {"host": self.broker.host, "port": self.broker.port},
            "core": {
                "database_url": f"sqlite:///{self.dir / 'core.sqlite3'}",
                "http_port": self.http_port,
            },
        }

    def start(self, config: Any) -> None:
        self.broker.start()
        config_file = self.dir / "config.json"
        config_file.write_text(json.dumps(config.model_dump(mode="json")))
        command = [sys.executable, "-m", "gateway", "-c", str(config_file), "core"]
        env = {**os.environ, "CITYGW_PASSWORD": PASSWORD}
        subprocess.run([*command, "add-user", "bench-operator", "--role", "operator"], cwd=REPO,
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        with (self.dir / "core.log").open("ab") as log:
            self.core = subprocess.Popen([*command, "--quiet"], cwd=REPO, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)  # fmt: skip
        base = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.core.poll() is not None:
                raise RuntimeError(f"the core did not start: see {self.dir / 'core.log'}")
            time.sleep(0.3)
        login = httpx.post(f"{base}/api/v1/auth/login",
                           json={"name": "bench-operator", "password": PASSWORD}, timeout=10)  # fmt: skip
        login.raise_for_status()
        self._token = login.json()["token"]
        self._stream_thread = threading.Thread(target=self._read_stream, args=(base,),
                                               name="bench.e2e.stream", daemon=True)  # fmt: skip
        self._stream_thread.start()

    def contract_publisher(self, config: Any) -> Any:
        self._connection = bootstrap.mqtt_connection(config, "video")
        self._publisher = bootstrap.edge_publisher(config, "video", self._connection)
        self._publisher.start()
        self._connection.start()
        if not self._connection.wait_connected(15):
            raise RuntimeError("the video side could not connect to the broker")
        return bootstrap.contract_publisher(config, self._publisher)

    def _read_stream(self, base: str) -> None:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "text/event-stream"}
        try:
            with httpx.stream("GET", f"{base}/api/v1/events/stream", headers=headers,
                              timeout=httpx.Timeout(10, read=None)) as response:  # fmt: skip
                kind = ""
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:") and kind == "case":
                        now = time.time()
                        data = json.loads(line[5:])
                        case_id = data.get("case_id")
                        if case_id and case_id not in self.arrivals:
                            self.arrivals[case_id] = (now, data)
        except Exception as exc:  # the core stopping ends the stream
            self.stream_error = repr(exc)

    def mark_window(self) -> None:
        self.window_start = time.time()

    def collect(self, cameras: list[Any], drain_s: float) -> dict[str, Any]:
        """Wait until no new case came for 3 s (at most ``drain_s``), then match each case
        to the frame it fired on."""
        deadline = time.monotonic() + drain_s
        seen, quiet_since = len(self.arrivals), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
            time.sleep(0.2)
            if len(self.arrivals) != seen:
                seen, quiet_since = len(self.arrivals), time.monotonic()
        by_camera = {c.camera_id: c.submitted for c in cameras}
        base = f"http://127.0.0.1:{self.http_port}"
        latencies, unmatched = [], 0
        for case_id, (arrived, data) in list(self.arrivals.items()):
            case = data.get("case")
            if not case:  # a large relay batch goes out without summaries: ask as the console
                got = httpx.get(f"{base}/api/v1/cases/{case_id}",
                                headers={"Authorization": f"Bearer {self._token}"}, timeout=10)  # fmt: skip
                case = got.json() if got.status_code == 200 else {}
            facts = case.get("facts") or {}
            submitted = by_camera.get(case.get("camera_id") or "", {}).get(
                facts.get("frame_seq", -1)
            )
            if submitted is None:
                unmatched += 1
            elif submitted >= self.window_start:
                latencies.append(arrived - submitted)
        latencies.sort()
        self.collected = True
        p95 = latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else None
        return {
            "measured": "frame handed to the pipeline -> its case's first event on the core's "
            "SSE stream (/api/v1/events/stream, operator token): motion, detector, tracker, "
            "rules, snapshot, durable outbox, Mosquitto QoS 1, core intake and commit, event "
            "relay, live hub, HTTP",
            "cases_seen": len(self.arrivals),
            "cases_of_window_frames": len(latencies),
            "cases_unmatched": unmatched,
            "p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "p95_s": round(p95, 3) if p95 is not None else None,
            "max_s": round(latencies[-1], 3) if latencies else None,
            "stream_error": self.stream_error,
        }

    def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.stop()
            self._publisher.outbox.close()
        if self._connection is not None:
            self._connection.stop()
        if self.core is not None and self.core.poll() is None:
            self.core.send_signal(signal.SIGTERM)
            try:
                self.core.wait(20)
            except subprocess.TimeoutExpired:
                self.core.kill()
        self.broker.stop()
        if self.collected:
            shutil.rmtree(self.dir, ignore_errors=True)
