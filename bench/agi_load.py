"""Benchmark: N concurrent scripted report calls against the running `citygw agi`.

    .venv/bin/python bench/agi_load.py [--calls 500] [--reply-delay-ms 100] [--purpose report]

The gateway is the real daemon (`run_agi`: FastAGI server, pyst2 session, IVR, case
numbers, durable outbox to a local Mosquitto); the callers are the fake Asterisk
(`place_call_async`), all N started at once from a separate process so they do not
share the gateway's interpreter. Each reply is held ``--reply-delay-ms`` (Asterisk
playing a prompt), so all N calls are in progress together.

Measured per command, twice: on the callers' side, from the moment Asterisk's reply is
written to the moment the next command arrives (loopback, both interpreters and the
machine included); and inside the gateway, from the reply read to the next command
sent (`FastAgiServer.turnarounds`). Baseline in the same run: the cheapest FastAGI
server possible (a thread per connection writing the same command lines with no
parsing, no IVR, no storage) against the same callers, so the callers' own floor shows.
Every call publishes one candidate (a report, or the record of a consultation or a
transfer with ``--purpose``); a call that does not is counted as an error.
Results: bench/results/agi_load.json (``--purpose report``), agi_load_<purpose>.json.
Target (issue 4): 500 concurrent calls, 0 errors, p99 added latency <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.asterisk.fake_asterisk import (  # noqa: E402
    CallOptions,
    Press,
    Speak,
    place_call,
    place_call_async,
    write_wav,
)
from adapters.mqtt.broker import MosquittoBroker  # noqa: E402
from gateway.config import Config  # noqa: E402
from gateway.telephony.daemon import AgiRuntime, run_agi  # noqa: E402
from gateway.telephony.prompts import prompt_files  # noqa: E402

SCRIPT = [
    Press("1"),  # report
    Press("1"),  # 市容环境
    Press("2"),  # 连云区
    Speak(0.2),  # location
    Speak(0.3),  # description
    Press("1"),  # confirm
    Press("1"),  # call back on this phone
]
#: the caller's actions per call purpose (the gateway's candidate says the same purpose)
SCRIPTS: dict[str, list[Any]] = {
    "report": SCRIPT,
    "consultation": [Press("2")],  # to an agent: a call record, no case
    "transfer": [Press("0")],
}


# --------------------------------------------------------------------------- callers


def _callers(
    port: int, script: str, calls: int, delay_s: float, tag: str, actions: list[Any]
) -> dict[str, Any]:
    """Runs in a child process: N calls at once on one asyncio loop."""

    async def one(index: int) -> dict[str, Any]:
        options = CallOptions(
            script=script,
            port=port,
            uniqueid=f"{tag}.{index}",
            reply_delay_s=delay_s / 2,
            reply_jitter_s=delay_s,  # calls are not in lockstep: mean delay_s per reply
        )
        await asyncio.sleep(delay_s * 2 * index / calls)  # callers ring in over 2 delays
        started = time.monotonic()
        try:
            result = await place_call_async(actions, options, timeout_s=60)
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = result.closed_by_gateway and not result.unused_actions
        return {
            "ok": ok,
            "error": None if ok else f"unused actions {result.unused_actions}",
            "turnaround_s": result.turnaround_s,
            "commands": len(result.commands),
            "seconds": time.monotonic() - started,
            "case_number": result.variables.get("CITYGW_CASE_NUMBER"),
        }

    async def all_calls() -> list[dict[str, Any]]:
        return await asyncio.gather(*(one(i) for i in range(calls)))

    started = time.monotonic()
    results = asyncio.run(all_calls())
    return {"wall_s": time.monotonic() - started, "calls": results}


def _caller_process(
    port: int, script: str, calls: int, delay_s: float, tag: str, actions: list[Any], queue: Any
) -> None:
    queue.put(_callers(port, script, calls, delay_s, tag, actions))


def run_callers(
    port: int, script: str, calls: int, delay_s: float, tag: str, actions: list[Any]
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_caller_process,
        args=(port, script, calls, delay_s, tag, actions, queue),
        name="callers",
    )
    process.start()
    outcome = queue.get(timeout=600)
    process.join(60)
    return outcome  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- baseline


class BaselineServer:
    """The cheapest FastAGI server: sends recorded command lines, reads a line per reply."""

    def __init__(self, commands: list[bytes]) -> None:
        self.commands = commands
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, name="baseline.accept", daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="baseline.call", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while reader.readline() not in (b"\n", b""):
                pass
            for command in self.commands:
                conn.sendall(command)
                if not reader.readline():
                    return

    def close(self) -> None:
        self.listener.close()


# --------------------------------------------------------------------------- figures


def by_command(outcome: dict[str, Any], commands: list[bytes]) -> dict[str, dict[str, float]]:
    """p50/p99 turnaround before each command of the script (the first: after the env)."""
    verbs = [" ".join(c.decode().split()[:2]) for c in commands]
    table: dict[str, list[float]] = {}
    for result in outcome["calls"]:
        for index, seconds in enumerate(result.get("turnaround_s") or []):
            if index < len(verbs):
                table.setdefault(f"{index + 1:02d} {verbs[index]}", []).append(seconds * 1000)
    out = {}
    for key, values in sorted(table.items()):
        values.sort()
        out[key] = {
            "p50": round(values[len(values) // 2], 3),
            "p99": round(values[min(len(values) - 1, int(0.99 * len(values)))], 3),
        }
    return out


def summarise(outcome: dict[str, Any], calls: int) -> dict[str, Any]:
    results = outcome["calls"]
    ok = [r for r in results if r["ok"]]
    turnarounds = sorted(t for r in ok for t in r["turnaround_s"])
    errors = [r["error"] for r in results if not r["ok"]]

    def pct(p: float) -> float:
        if not turnarounds:
            return float("nan")
        return turnarounds[min(len(turnarounds) - 1, int(p * len(turnarounds)))] * 1000

    return {
        "calls": calls,
        "completed": len(ok),
        "errors": len(errors),
        "error_examples": errors[:3],
        "wall_s": round(outcome["wall_s"], 3),
        "calls_per_s": round(len(ok) / outcome["wall_s"], 1),
        "commands": len(turnarounds),
        "turnaround_ms": {
            "p50": round(pct(0.50), 3),
            "p90": round(pct(0.90), 3),
            "p99": round(pct(0.99), 3),
            "max": round(turnarounds[-1] * 1000, 3) if turnarounds else None,
            "mean": round(statistics.fmean(turnarounds) * 1000, 3) if turnarounds else None,
        },
        "call_seconds_median": round(statistics.median(r["seconds"] for r in ok), 3)
        if ok
        else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500, help="concurrent calls")
    parser.add_argument(
        "--reply-delay-ms", type=float, default=100.0, help="Asterisk's time per command"
    )
    parser.add_argument(
        "--purpose", choices=sorted(SCRIPTS), default="report", help="what every caller does"
    )
    parser.add_argument("--out", type=Path, default=None, help="results file")
    args = parser.parse_args()
    actions = SCRIPTS[args.purpose]
    if args.out is None:
        suffix = "" if args.purpose == "report" else f"_{args.purpose}"
        args.out = REPO / "bench" / "results" / f"agi_load{suffix}.json"
    delay_s = args.reply_delay_ms / 1000
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="citygw-agi-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker = MosquittoBroker(tmp / "mosquitto")
        broker.start()
        config = Config.model_validate(
            {
                "instance": "bench",
                "state_dir": str(tmp / "state"),
                "mqtt": {"port": broker.port},
                "logging": {"level": "WARNING"},
                "telephony": {
                    "listen_port": 0,
                    "sounds_dir": str(tmp / "sounds"),
                    "recordings_dir": str(tmp / "spool"),
                    "max_calls": max(args.calls + 10, 20),
                    "read_timeout_s": 60,
                },
            }
        )
        for prompt in prompt_files(config.telephony):
            write_wav(prompt.path, 0.05)
        stop = threading.Event()
        ready = threading.Event()
        runtime: list[AgiRuntime] = []

        def on_ready(rt: AgiRuntime) -> None:
            runtime.append(rt)
            ready.set()

        daemon = threading.Thread(
            target=run_agi, args=(config, stop), kwargs={"ready": on_ready}, name="bench.agi"
        )
        daemon.start()
        if not ready.wait(30):
            raise SystemExit("citygw agi did not start")
        agi = runtime[0]
        port = agi.server.port
        script = config.telephony.script

        probe = place_call(actions, CallOptions(script=script, port=port, uniqueid="probe.0"))
        commands = [(c + "\n").encode() for c in probe.commands]
        assert agi.server.wait_idle(30)
        print(
            f"[bench] one {args.purpose} call = {len(commands)} commands; "
            f"{args.calls} calls at once"
        )

        baseline = BaselineServer(commands)
        base = summarise(
            run_callers(baseline.port, script, args.calls, delay_s, "base", actions), args.calls
        )
        baseline.close()
        print(f"[bench] baseline: {json.dumps(base['turnaround_ms'])}, {base['errors']} errors")

        before = agi.service.candidates_published
        agi.server.turnarounds.clear()
        outcome = run_callers(port, script, args.calls, delay_s, "load", actions)
        gateway = summarise(outcome, args.calls)
        inside = sorted(seconds for _command, seconds in agi.server.turnarounds)
        gateway["server_side_ms"] = {
            "commands": len(inside),
            "p50": round(inside[len(inside) // 2] * 1000, 3),
            "p99": round(inside[int(0.99 * len(inside))] * 1000, 3),
            "max": round(inside[-1] * 1000, 3),
        }
        per_verb: dict[str, list[float]] = {}
        for command, seconds in agi.server.turnarounds:
            per_verb.setdefault(command, []).append(seconds * 1000)
        gateway["server_side_by_command_ms"] = {
            verb: {
                "p50": round(sorted(v)[len(v) // 2], 3),
                "p99": round(sorted(v)[int(0.99 * len(v))], 3),
            }
            for verb, v in sorted(per_verb.items())
        }
        agi.server.wait_idle(60)
        numbers = [r.get("case_number") for r in outcome["calls"] if r["ok"]]
        candidates = agi.service.candidates_published - before
        gateway["candidates_stored"] = candidates
        gateway["distinct_case_numbers"] = len(set(numbers))
        gateway["server_calls_failed"] = agi.server.calls_failed
        gateway["server_calls_refused"] = agi.server.calls_refused
        errors = gateway["errors"] + (args.calls - candidates) + agi.server.calls_failed
        print(f"[bench] gateway:  {json.dumps(gateway['turnaround_ms'])}, {errors} errors")
        stop.set()
        daemon.join(60)
        broker.stop()

    p99 = gateway["turnaround_ms"]["p99"]
    inside_p99 = gateway["server_side_ms"]["p99"]
    report = {
        "benchmark": "agi_load",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # other work on the machine skews every figure; the ratios less so
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        },
        "calls": args.calls,
        "purpose": args.purpose,
        "reply_delay_ms": args.reply_delay_ms,
        "commands_per_call": len(commands),
        "baseline_minimal_server": base,
        "gateway": gateway,
        "errors_total": errors,
        "added_latency_p99_ms": {"seen_by_callers": p99, "inside_gateway": inside_p99},
        "ratio_p99_vs_baseline": round(p99 / base["turnaround_ms"]["p99"], 2),
        "ratio_p50_vs_baseline": round(
            gateway["turnaround_ms"]["p50"] / base["turnaround_ms"]["p50"], 2
        ),
        "ratio_calls_per_s_vs_baseline": round(gateway["calls_per_s"] / base["calls_per_s"], 3),
        "target": {"calls": 500, "errors": 0, "p99_ms": 5.0},
        "meets_target": {
            "inside_gateway": args.calls >= 500 and errors == 0 and inside_p99 <= 5.0,
            "seen_by_callers": args.calls >= 500 and errors == 0 and p99 <= 5.0,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "added_latency_p99_ms",
                    "ratio_p99_vs_baseline",
                    "errors_total",
                    "meets_target",
                )
            }
        )
    )
    print(f"[bench] written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
