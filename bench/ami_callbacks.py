"""Benchmark: N callbacks queued at once, originated at the configured rate over AMI.

    .venv/bin/python bench/ami_callbacks.py [--callbacks 200] [--rate 20] [--time-scale 0.05]

The real callback service, store (SQLite on disk), AMI client and dialer against the fake
Asterisk (`ScriptedAmiServer`), which answers each Originate with the events recorded from
a real Asterisk 22.10.1 (answered with a survey key, no answer, busy, congestion: the
mix is fixed per number), their timing scaled by ``--time-scale``. All N cases close at
the same moment. Halfway (``--restart-after`` Originates) the service and its AMI
connection are stopped as a crash would (calls in flight are cut) and a new service
starts on the same store, as a restarted gateway does.

Checked: every callback ends (none lost); no number is called more often than its
attempts say, no case after it was answered or cut, no ActionID twice (none doubled);
the Originate rate never exceeds the configured one (1 s windows); each answered call
with a key gives one feedback. Results: bench/results/ami_callbacks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.asterisk.ami_client import AmiClient
from adapters.asterisk.ami_dialer import AmiCallbackDialer
from adapters.asterisk.ami_fake import Behaviour, ScriptedAmiServer
from gateway.clock import SYSTEM_CLOCK
from gateway.contract import CandidateCase, CaseEvent, CaseFeedback, Source, SourceKind
from gateway.telephony.callback_dnc import DoNotCall
from gateway.telephony.callback_service import CallbackService
from gateway.telephony.callback_settings import CallbackConfig
from gateway.telephony.callback_store import CallbackStore

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "asterisk-ami"
SECRET = "citygw-ami-secret"


class Collected:
    """The `CallbackPublisher` port, counting what would reach the outbox."""

    def __init__(self) -> None:
        self.candidates: list[CandidateCase] = []
        self.feedback_messages: list[CaseFeedback] = []

    def candidate(self, candidate: CandidateCase) -> int:
        self.candidates.append(candidate)
        return len(self.candidates)

    def feedback(self, feedback: CaseFeedback) -> int:
        self.feedback_messages.append(feedback)
        return len(self.feedback_messages)


def behaviour(number: str) -> Behaviour:
    """A fixed mix by the number's last digit: 60 % answered, then no answer, busy, congestion."""
    digit = int(number[-1])
    if digit < 6:
        return ("answered", str(1 + digit % 3))
    return {6: ("noanswer", None), 7: ("busy", None), 8: ("busy", None), 9: ("congestion", None)}[
        digit
    ]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = ScriptedAmiServer(FIXTURES, behaviour=behaviour, time_scale=args.time_scale)
    await server.start()
    stamps: list[float] = []
    original = server._call

    async def stamped(frame: Any, send: Any) -> None:  # when each Originate arrived
        stamps.append(time.monotonic())
        await original(frame, send)

    server._call = stamped  # type: ignore[method-assign]
    config = CallbackConfig.model_validate(
        {
            "enabled": True,
            "ami": {"port": server.port, "secret": SECRET},
            "delay_after_close_s": 0,
            "days": [1, 2, 3, 4, 5, 6, 7],
            "hours": ["00:00-23:59"],
            "rate_per_s": args.rate,
            "max_concurrent": args.concurrent,
            "max_attempts": 2,
            "retry_after_s": 10,
            "daily_cap_per_number": 5,
            "ring_timeout_s": 30,
        }
    )
    publisher = Collected()
    with tempfile.TemporaryDirectory(prefix="citygw-bench-") as scratch:
        store = CallbackStore(Path(scratch) / "callbacks.sqlite3")
        source = Source(kind=SourceKind.CALL, id="bench")
        numbers = [f"1380000{i:04d}" for i in range(args.callbacks)]
        for i, number in enumerate(numbers):
            store.remember_reporter(f"01261205{i:05d}", number, f"cand-{i}", datetime.now(UTC))

        def build() -> tuple[CallbackService, AmiClient]:
            client = AmiClient("127.0.0.1", server.port, "citygw", SECRET, ping_interval_s=3600)
            service = CallbackService(
                config,
                store=store,
                dialer=AmiCallbackDialer(client, config),
                publisher=publisher,
                clock=SYSTEM_CLOCK,
                source=source,
                timezone="Asia/Shanghai",
                fallback_event_code="0199",
                do_not_call=DoNotCall([]),
                poll_s=0.05,
            )
            return service, client

        load_before = os.getloadavg()[0]
        started = time.monotonic()
        service, client = build()
        queue_started = time.monotonic()
        now = datetime.now(UTC)
        for i in range(args.callbacks):
            service.case_event(
                CaseEvent.create(
                    source=Source(kind=SourceKind.CORE, id="core"),
                    ts=now,
                    case_id=f"case-{i:05d}",
                    case_number=f"01261205{i:05d}",
                    action="verify_pass",
                    to_state="closed",
                )
            )
        queue_s = time.monotonic() - queue_started
        restarts = 0
        async with client:
            task = asyncio.create_task(service.run())
            while len(server.originates) < args.restart_after:
                await asyncio.sleep(0.01)
            task.cancel()  # a crash: calls in flight are cut
            await asyncio.gather(task, return_exceptions=True)
        restarts += 1
        restart_at = len(stamps)
        service, client = build()
        async with client:
            task = asyncio.create_task(service.run())
            deadline = time.monotonic() + args.limit_s
            while time.monotonic() < deadline:
                counts = store.counts()
                if counts.get("done", 0) == args.callbacks:
                    break
                await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        wall_s = time.monotonic() - started
        counts = store.counts()
        per_case: dict[str, list[tuple[str, str | None]]] = {
            f"case-{i:05d}": store.attempts_of(f"case-{i:05d}") for i in range(args.callbacks)
        }
        store.close()
    await server.close()

    # -- checks
    originated = Counter(f.get("Channel") for f in server.originates)
    attempts_by_number: Counter[str] = Counter()
    for i, attempts in enumerate(per_case.values()):
        attempts_by_number[f"Local/{numbers[i]}@citygw-outbound"] = sum(
            1 for _, outcome in attempts if outcome != "not_sent"
        )
    action_ids = Counter(f.action_id for f in server.originates)
    doubled = [aid for aid, n in action_ids.items() if n > 1]
    exceeded = [n for n in attempts_by_number if originated[n] > attempts_by_number[n]]
    never_sent = sum(attempts_by_number[n] - originated[n] for n in attempts_by_number)
    after_final = [
        case
        for case, attempts in per_case.items()
        if any(o in ("answered", "lost") for _, o in attempts[:-1])
    ]
    window_max = 0  # per run of the service: a restart starts its own pacing
    for phase in (stamps[:restart_at], stamps[restart_at:]):
        for i, t in enumerate(phase):
            window_max = max(window_max, sum(1 for u in phase[i:] if u - t < 1.0))
    first = stamps[:restart_at]
    first_rate = (len(first) - 1) / (first[-1] - first[0]) if len(first) > 1 else None
    answered_with_key = sum(
        1
        for c in publisher.candidates
        if c.facts.get("outcome") == "answered" and c.facts.get("survey_key")
    )
    result = {
        "benchmark": "ami_callbacks",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "note": "shared machine: other helpers' tests and benchmarks ran at the same time",
        },
        "callbacks": args.callbacks,
        "rate_per_s_configured": args.rate,
        "max_concurrent": args.concurrent,
        "time_scale": args.time_scale,
        "restart_after_originates": args.restart_after,
        "queue_s": round(queue_s, 3),
        "wall_s": round(wall_s, 2),
        "originates": len(server.originates),
        "originates_per_s_max_1s_window": window_max,
        "originates_per_s_mean": round(len(stamps) / max(1e-9, stamps[-1] - stamps[0]), 2)
        if len(stamps) > 1
        else None,
        "originates_per_s_before_restart": round(first_rate, 2) if first_rate else None,
        "logins": server.logins,
        "attempts_cut_before_sending": never_sent,
        "callbacks_by_state": counts,
        "feedback": len(publisher.feedback_messages),
        "answered_with_key": answered_with_key,
        "call_records": len(publisher.candidates),
        "checks": {
            "all_done": counts.get("done", 0) == args.callbacks,
            "no_action_id_twice": not doubled,
            "originates_never_exceed_attempts": not exceeded,
            "no_call_after_answered_or_cut": not after_final,
            "rate_respected": window_max <= args.rate + 1,
            "one_feedback_per_keyed_answer": len(publisher.feedback_messages) == answered_with_key,
        },
    }
    result["ok"] = all(result["checks"].values())
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--restart-after", type=int, default=100)
    parser.add_argument("--limit-s", type=float, default=120.0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "ami_callbacks.json"
    )
    args = parser.parse_args()
    outcome = asyncio.run(main(args))
    args.out.write_text(json.dumps(outcome, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {k: outcome[k] for k in ("ok", "checks", "wall_s", "callbacks_by_state")}, indent=1
        )
    )
    sys.exit(0 if outcome["ok"] else 1)
