"""Benchmark: 100 cameras' events and event health on one video gateway, nothing lost.

    .venv/bin/python bench/onvif_fleet.py [--cameras 100] [--episodes 15] [--period-s 2]

One process, loopback only: ``--cameras`` simulated ONVIF devices (the project's test
device, `gateway.video.testcam.onvif_device`, each its own HTTP server on its own port:
events only, no video), one real Mosquitto, and one `VideoGateway` (analysis off) whose
cameras are those devices: a PullPoint subscription each on its one event thread, an
event rule turning each camera alarm into a candidate. A collector plays the core: it
takes candidates, camera event states and camera statuses from the broker and answers
candidates with receipts, as the core does.

1. Subscribe: seconds until every camera's subscription is up.
2. Events: each device raises ``--episodes`` alarm episodes (``IsInside`` true, then
   false half a period later), one every ``--period-s``, devices staggered over the
   period: 2 x cameras / period events a second in all. Counted: events sent, event
   states received (one per event), candidates (one per episode start) and their end
   updates (one per episode end); latency from the device raising an event to its state
   at the collector.
3. Health: ``--outage`` devices' web servers go down (their subscriptions with them):
   seconds until each camera's status shows the ``events`` fault, and, once they are
   back, until it is cleared.

Results: bench/results/onvif_fleet.json (with the machine's load: other work shares it).
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.mqtt.broker import MosquittoBroker, free_port  # noqa: E402
from adapters.mqtt.connection import MqttConnection  # noqa: E402
from gateway import bootstrap  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.contract import (  # noqa: E402
    CameraEventState,
    CameraStatus,
    CandidateCase,
    parse_message,
)
from gateway.video.daemon import VideoGateway  # noqa: E402
from gateway.video.event_handoff import EventHandOff  # noqa: E402
from gateway.video.testcam.onvif_device import (  # noqa: E402
    OnvifDevice,
    OnvifEvent,
    OnvifServer,
    StreamProfile,
)

RESULTS = REPO / "bench" / "results" / "onvif_fleet.json"
PARKING = "tns1:RuleEngine/FieldDetector/ObjectsInside"
SOURCE = {"VideoSourceConfigurationToken": "vsc0", "Rule": "no-parking"}


def _camera_id(index: int) -> str:
    return f"cam-{index:03d}"


@dataclass
class Collector:
    """The core's side of the broker: what came, when; receipts for candidates."""

    config: Config
    states: dict[tuple[str, str, bool], float] = field(default_factory=dict)
    state_ids: set[str] = field(default_factory=set)
    starts: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (camera, seq)
    ends: set[str] = field(default_factory=set)
    statuses: list[tuple[float, CameraStatus]] = field(default_factory=list)
    deliveries: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.connection = MqttConnection(self.config.mqtt, "bench-core", clean_session=True)
        topics = bootstrap.topics(self.config)
        self.connection.subscribe(topics.all_candidates, self._candidate)
        self.connection.subscribe(topics.all_camera_events, self._state)
        self.connection.subscribe(topics.all_camera_status, self._status)
        self.receipts = bootstrap.MqttReceipts(self.config, self.connection, "core")
        self.connection.start()
        if not self.connection.wait_connected(15):
            raise RuntimeError("collector: no broker")

    def _candidate(self, message: Any) -> None:
        candidate = parse_message(message.payload, expect=CandidateCase)
        assert isinstance(candidate, CandidateCase)
        with self._lock:
            self.deliveries += 1
            if "update_of" in candidate.facts:
                self.ends.add(candidate.facts["update_of"])
            else:
                self.starts[candidate.id] = (
                    candidate.source.id,
                    str(candidate.facts.get("onvif_data", {}).get("Seq", "")),
                )
        self.receipts.send_receipt([candidate.id], [])

    def _state(self, message: Any) -> None:
        if not message.payload:
            return
        state = parse_message(message.payload, expect=CameraEventState)
        assert isinstance(state, CameraEventState)
        now = time.monotonic()
        with self._lock:
            self.state_ids.add(state.id)
            key = (state.camera_id, state.data.get("Seq", ""), bool(state.active))
            self.states.setdefault(key, now)

    def _status(self, message: Any) -> None:
        if not message.payload:
            return
        status = parse_message(message.payload, expect=CameraStatus)
        assert isinstance(status, CameraStatus)
        with self._lock:
            self.statuses.append((time.monotonic(), status))

    def snapshot(self) -> tuple[int, int, int]:
        with self._lock:
            return len(self.states), len(self.starts), len(self.ends)

    def first_status(self, camera_id: str, after: float, events_fault: bool) -> float | None:
        with self._lock:
            for at, status in self.statuses:
                faulty = "events" in status.faults
                if at >= after and status.camera_id == camera_id and faulty is events_fault:
                    return at
        return None


def _device_factory(index: int) -> Any:
    def factory(base_url: str) -> OnvifDevice:
        return OnvifDevice(
            base_url=base_url,
            profiles=[StreamProfile("sub", "subStream", "rtsp://127.0.0.1:9/sub", 384, 288, 5)],
            snapshot_url=f"{base_url}/snapshot.jpg",
            serial=f"FLEET-{index:04d}",
        )

    return factory


def _started_device(index: int) -> OnvifServer:
    """A device on a port of its own (a free port may be taken again before it binds)."""
    for _ in range(20):
        server = OnvifServer(_device_factory(index), port=free_port(), snapshot=b"")
        try:
            server.start()
        except OSError:
            continue
        return server
    raise RuntimeError(f"device {index}: no free port")


def _config(root: Path, broker: MosquittoBroker, servers: list[OnvifServer]) -> Config:
    dead = free_port()  # no video: the readers find nothing there and back off
    rule = {"topic": PARKING, "data": {"IsInside": "true"}, "event_code": "0505",
            "title": "camera parking rule", "cooldown_s": 0}  # fmt: skip
    cameras = [
        {
            "id": _camera_id(i),
            "rtsp_url": f"rtsp://127.0.0.1:{dead}/none",
            "onvif": {
                "url": f"http://127.0.0.1:{server.port}/onvif/device_service",
                "event_rules": [rule],
            },
        }
        for i, server in enumerate(servers)
    ]
    return Config.model_validate(
        {
            "instance": "fleet",
            "state_dir": str(root / "state"),
            "mqtt": {"host": broker.host, "port": broker.port},
            "video": {
                "onvif_timeout_s": 10,
                "ingest": {"reconnect_min_s": 5, "reconnect_max_s": 60},
                "live_view": {"enabled": False},
                "main_stream": {"enabled": False},
                "evidence": {"clip_buffer_s": 0},
                "camera_check": {"enabled": False},
                "cameras": cameras,
            },
        }
    )


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


def run_events(
    servers: list[OnvifServer], episodes: int, period_s: float
) -> dict[tuple[str, str, bool], float]:
    """Raise every device's episodes on schedule; the emission time of each event."""
    start = time.monotonic() + 0.5
    plan: list[tuple[float, int, int, bool]] = []
    for i in range(len(servers)):
        offset = period_s * i / len(servers)
        for k in range(episodes):
            at = start + offset + k * period_s
            plan.append((at, i, k, True))
            plan.append((at + period_s / 2, i, k, False))
    heapq.heapify(plan)
    sent: dict[tuple[str, str, bool], float] = {}
    while plan:
        at, i, k, active = heapq.heappop(plan)
        wait = at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        servers[i].device.emit(
            OnvifEvent(PARKING, dict(SOURCE), {"IsInside": str(active).lower(), "Seq": str(k)})
        )
        sent[(_camera_id(i), str(k), active)] = time.monotonic()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=15, help="alarm episodes per camera")
    parser.add_argument("--period-s", type=float, default=2.0, help="one episode per camera per")
    parser.add_argument("--outage", type=int, default=10, help="devices taken down in phase 3")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="onvif-fleet-") as tmp:
        root = Path(tmp)
        broker = MosquittoBroker(root / "mosquitto")
        broker.start()
        servers = [_started_device(i) for i in range(args.cameras)]
        config = _config(root, broker, servers)
        collector = Collector(config)
        gateway = VideoGateway(config, analysis=False)
        handling = _time_calls(gateway.rules, "handle")
        gateway.camera_events = EventHandOff(gateway.rules.handle)  # the timed one
        try:
            t0 = time.monotonic()
            gateway.start()
            subscribers = gateway.events.subscribers
            while not (
                len(subscribers) == args.cameras and all(s.active for s in subscribers.values())
            ):
                if time.monotonic() - t0 > 120:
                    raise RuntimeError("not every camera subscribed within 120 s")
                time.sleep(0.05)
            subscribed_s = time.monotonic() - t0
            print(f"{args.cameras} subscriptions up in {subscribed_s:.2f} s")

            cpu0, wall0 = time.process_time(), time.monotonic()
            sent = run_events(servers, args.episodes, args.period_s)
            emitting_s = time.monotonic() - wall0
            expected = len(sent)
            episodes = args.cameras * args.episodes
            deadline = time.monotonic() + 60
            while collector.snapshot() != (expected, episodes, episodes):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            drained_s = time.monotonic() - wall0
            cpu_s = time.process_time() - cpu0
            states, starts, ends = collector.snapshot()
            latencies = [
                collector.states[key] - at for key, at in sent.items() if key in collector.states
            ]
            device_events = sum(s.events for s in subscribers.values())
            print(
                f"events sent {expected}, states {states}, candidates {starts}, ends {ends}; "
                f"latency {_percentiles(latencies)}"
            )

            down = servers[: args.outage]
            t_down = time.monotonic()
            for server in down:
                server.stop()
            faulted = _wait_statuses(collector, args.outage, t_down, True)
            time.sleep(2.0)
            t_up = time.monotonic()
            for server in down:
                server.start()
            cleared = _wait_statuses(collector, args.outage, t_up, False)
            print(f"events fault seen {_percentiles(faulted)}, cleared {_percentiles(cleared)}")
            lost_by_device = sorted({key[0] for key in sent if key not in collector.states})
        finally:
            gateway.stop()
            collector.connection.stop(publish_offline=False)
            for server in servers:
                server.stop()
            broker.stop()

    results = {
        "benchmark": "onvif_fleet",
        "when": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(v, 2) for v in load_start],
            "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
            "note": "shared machine: other work ran beside it (see the load averages); "
            "devices, broker client, collector and gateway all in this one process",
        },
        "method": (
            f"{args.cameras} test ONVIF devices (one HTTP server each on loopback, events "
            "only, no video), one Mosquitto, one VideoGateway (analysis off) subscribed to "
            "all of them on its one event thread; each device raises "
            f"{args.episodes} alarm episodes (IsInside true, false half a period later), one "
            f"every {args.period_s} s, staggered; a collector takes candidates, event states "
            "and statuses from the broker and sends the core's receipts"
        ),
        "cameras": args.cameras,
        "subscribe_all_s": round(subscribed_s, 2),
        "events": {
            "sent": expected,
            "rate_per_s": round(expected / emitting_s, 1),
            "pulled_by_gateway": device_events,
            "states_received": states,
            "candidates_expected": episodes,
            "candidates_received": starts,
            "end_updates_received": ends,
            "lost": expected - states,
            "cameras_with_loss": lost_by_device,
            "latency_event_to_state_s": _percentiles(latencies),
            "seconds_until_all_in": round(drained_s, 2),
            "gateway_handling_per_event_ms": _percentiles([t * 1000 for t in handling]),
            "process_cpu_s": round(cpu_s, 2),
            "process_cpu_share_of_one_core": round(cpu_s / drained_s, 2),
        },
        "health": {
            "devices_down": args.outage,
            "events_fault_seen_after_s": _percentiles(faulted),
            "faults_seen": len(faulted),
            "cleared_after_web_server_back_s": _percentiles(cleared),
            "cleared": len(cleared),
            "note": "first re-subscription 1 s after a failure, doubling to 30 s",
        },
        "goal": "100 cameras' health and events on one gateway with no event lost",
        "met": expected == states
        and starts == episodes
        and ends == episodes
        and len(faulted) == len(cleared) == args.outage,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"written {RESULTS}")


def _time_calls(owner: Any, name: str) -> list[float]:
    """Wrap ``owner.name`` to record each call's seconds (the list returned)."""
    original = getattr(owner, name)
    spent: list[float] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(owner, name, timed)
    return spent


def _wait_statuses(collector: Collector, count: int, after: float, fault: bool) -> list[float]:
    """Seconds from ``after`` to each of the first ``count`` cameras' status with (or
    without) the events fault; waits up to 90 s."""
    deadline = time.monotonic() + 90
    found: dict[str, float] = {}
    while len(found) < count and time.monotonic() < deadline:
        for i in range(count):
            camera_id = _camera_id(i)
            if camera_id not in found:
                at = collector.first_status(camera_id, after, fault)
                if at is not None:
                    found[camera_id] = at - after
        time.sleep(0.1)
    return list(found.values())


if __name__ == "__main__":
    main()
