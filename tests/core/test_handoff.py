"""Urgent cases handed to the emergency command centre: signed, durable, retried, once.

A local receiver (a real HTTP server on loopback) fails the first post, is slow on the
second (past the client's timeout, yet it takes the message), and answers the third: the
case is acknowledged once with the receiver's reference, every post is signed, all of
them carry the same delivery id (the receiver's idempotency key), and nothing is sent
again after the acknowledgement, nor after a restart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adapters.emergency_webhook import WebhookPoster
from adapters.storage.handoff_store import SqlHandoffs
from gateway.clock import FakeClock
from gateway.core.handoff import HandoffRelay, backoff, verify
from gateway.core.ports import CaseFilter
from gateway.core.service import CaseService
from gateway.core.workflow import Action, Actor, CaseState, Command, Role
from tests.core.helpers import MONDAY_10, candidate, make_service

SECRET = "a-shared-secret-of-the-command-centre"
OPERATOR = Actor("olga", Role.OPERATOR)


class Receiver:
    """Answers posts by a script: 'fail' (503), 'slow' (takes it, answers too late), 'ok'."""

    def __init__(self, script: list[str], slow_s: float) -> None:
        self.script = list(script)
        self.slow_s = slow_s
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    {
                        "body": body,
                        "delivery": self.headers["X-Citygw-Delivery"],
                        "signed": verify(
                            SECRET,
                            self.headers["X-Citygw-Timestamp"],
                            body,
                            self.headers["X-Citygw-Signature"],
                        ),
                    }
                )
                what = receiver.script.pop(0) if receiver.script else "ok"
                if what == "fail":
                    self.send_response(503)
                    self.end_headers()
                    return
                if what == "slow":
                    time.sleep(receiver.slow_s)
                answer = json.dumps({"ack": f"ECC-{len(receiver.received)}"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/handoff"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver")
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[CaseService]:
    clock = FakeClock(MONDAY_10)
    svc = make_service(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "ev", clock)
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def relay_for(service: CaseService, url: str, timeout_s: float = 0.5) -> HandoffRelay:
    return HandoffRelay(
        SqlHandoffs.for_store(service.store),
        WebhookPoster(url, timeout_s),
        secret=SECRET,
        prefixes=["04"],
        now=service.clock.now,
        backoff_s=2,
        max_backoff_s=60,
        on_acknowledged=service.note_handoff,
    )


def registered(service: CaseService, n: int, event_code: str, urgent: bool = False) -> str:
    service.store_candidates([candidate(n, event_code=event_code, urgent=urgent)])
    case = next(c for c in service.store.list_cases(CaseFilter())[0] if c.title == f"candidate {n}")
    service.transition(case.id, Command(Action.REGISTER), OPERATOR)
    return case.id


def test_an_urgent_case_is_handed_over_through_failure_and_slowness_and_acknowledged_once(
    service: CaseService,
) -> None:
    clock = service.clock
    assert isinstance(clock, FakeClock)
    urgent_id = registered(service, 1, "0497")
    registered(service, 2, "0102")  # not urgent: never handed over
    marked_id = registered(service, 3, "0102", urgent=True)  # marked urgent by its source
    service.store_candidates([candidate(4, event_code="0401")])  # not registered yet: waits
    receiver = Receiver(["fail", "slow", "ok", "ok"], slow_s=1.5)
    relay = relay_for(service, receiver.url)
    handoffs = SqlHandoffs.for_store(service.store)
    try:
        relay._tick()  # queues both urgent cases; the first post fails, the second is slow
        first = handoffs.of_case(urgent_id)
        assert first is not None and first.acked_at is None and first.attempts == 1
        assert first.last_error is not None and "503" in first.last_error
        slow = handoffs.of_case(marked_id)
        assert slow is not None and slow.acked_at is None and "Timeout" in (slow.last_error or "")
        relay._tick()  # nothing due before the backoff
        assert len(receiver.received) == 2
        clock.advance(seconds=backoff(1, 2, 60).total_seconds())
        relay._tick()  # both again: acknowledged (the slow one's retry: a duplicate for them)
        done = handoffs.of_case(urgent_id)
        assert done is not None and done.acked_at == clock.now() and done.ack_ref == "ECC-3"
        marked = handoffs.of_case(marked_id)
        assert marked is not None and marked.ack_ref == "ECC-4" and marked.attempts == 2
        clock.advance(hours=1)
        relay._tick()
        restarted = relay_for(service, receiver.url)  # a restart sends nothing again
        restarted._tick()
        assert len(receiver.received) == 4
        assert all(r["signed"] for r in receiver.received)
        deliveries = [r["delivery"] for r in receiver.received]
        assert deliveries == [f"handoff-{urgent_id}", f"handoff-{marked_id}"] * 2
        # the acknowledgement shows on the case: one step in its log, the state unchanged
        marks = [s.step for s in service.store.steps(urgent_id) if s.step.action is Action.HANDOFF]
        assert len(marks) == 1 and marks[0].facts["ack_ref"] == "ECC-3"
        assert marks[0].from_state is marks[0].to_state is CaseState.REGISTERED
        assert marks[0].role is Role.SYSTEM and marks[0].facts["attempts"] == 2
        message = json.loads(receiver.received[0]["body"])
        assert message["event_code"] == "0497" and message["case_number"].startswith("00")
    finally:
        receiver.close()


def test_a_forged_or_altered_message_fails_the_signature_check() -> None:
    from gateway.core.handoff import sign

    body = b'{"case_number": "0026010500001"}'
    good = sign(SECRET, "1767578400", body)
    assert verify(SECRET, "1767578400", body, good)
    assert not verify(SECRET, "1767578400", body.replace(b"01", b"02"), good)
    assert not verify("another-secret", "1767578400", body, good)
    assert backoff(1, 2, 60) == timedelta(seconds=2) and backoff(10, 2, 60) == timedelta(seconds=60)


def test_a_webhook_without_its_secret_is_refused_by_the_config() -> None:
    from gateway.core.settings import EmergencyConfig

    with pytest.raises(ValueError, match=r"needs emergency\.secret"):
        EmergencyConfig(webhook_url="https://ecc.example/handoff")
    with pytest.raises(ValueError):
        EmergencyConfig(webhook_url="https://ecc.example/handoff", secret="short")
    EmergencyConfig(webhook_url="https://ecc.example/handoff", secret=SECRET)


def test_the_core_wires_the_relay_from_config_and_its_thread_delivers(
    service: CaseService,
) -> None:
    from gateway.config import Config
    from gateway.core.daemon import build_handoff

    assert build_handoff(Config(), service) is None  # off unless configured
    receiver = Receiver(["ok"], slow_s=0)
    config = Config.model_validate(
        {"core": {"emergency": {"webhook_url": receiver.url, "secret": SECRET, "scan_s": 0.2}}}
    )
    relay = build_handoff(config, service)
    assert relay is not None
    case_id = registered(service, 1, "0401")
    relay.start()
    try:
        deadline = time.monotonic() + 10
        while not any(s.step.action is Action.HANDOFF for s in service.store.steps(case_id)):
            assert time.monotonic() < deadline, "the relay's thread did not hand the case over"
            time.sleep(0.05)
    finally:
        relay.stop()
        receiver.close()
    assert [r["delivery"] for r in receiver.received] == [f"handoff-{case_id}"]
