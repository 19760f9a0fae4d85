"""`citygw ami` on the secured broker (issue 20, with issue 15 §4): TLS, its own user
``ami-<instance>`` and the access list the contract gives it (`gateway.mqtt_acl.ami_grant`,
what `citygw broker acl --ami` writes).

Through that broker the daemon reads what its host's IVR (user ``agi-<instance>``)
publishes of a call, so an agent's screen pop carries the caller's partial report; it
publishes screen pops, queue figures and the record of a call the IVR never handled; and
what it may not publish (the core's case events, another hotline's calls) the broker
drops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.asterisk.ami_protocol import AmiFrame, iter_frames
from gateway.contract import AgentCall, AgentQueues, CandidateCase, SourceKind, parse_message
from gateway.mqtt_acl import ami_grant, core_grant, observer_grant, telephony_grant
from tests.conftest import FIXTURES_DIR
from tests.core.mqtt_helpers import wait_until
from tests.mqtt_security_harness import TOPICS, SecuredBroker, Watcher, start_secured_broker
from tests.telephony.ami_rig import FakeAsteriskManager, RunningAmi, callbacks_settings
from tests.telephony.test_agent_desk import CALLER_UNIQUEID, ivr_transfer

AMI = FIXTURES_DIR / "asterisk-ami"
ABANDONED = "1796393513.13"  # the caller's leg in the recorded queue-abandon
QUEUE = "citygw-12319-agents"
GRANTS = [
    core_grant(TOPICS, "test"),
    telephony_grant(TOPICS, "test"),
    ami_grant(TOPICS, "test"),
    telephony_grant(TOPICS, "other"),
    observer_grant(TOPICS, "ops"),
]


def recorded(scenario: str, event: str) -> list[AmiFrame]:
    return [f for f in iter_frames((AMI / f"{scenario}.ami.bin").read_bytes()) if f.event == event]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredBroker]:
    harness = start_secured_broker(tmp_path, GRANTS)
    yield harness
    harness.close()


@pytest.fixture
def manager() -> Iterator[FakeAsteriskManager]:
    fake = FakeAsteriskManager()
    yield fake
    fake.close()


def on(watcher: Watcher, part: str) -> list[bytes]:
    return [m.payload for m in watcher.messages if f"/{part}/" in m.topic]


def test_the_ami_daemon_works_as_its_own_broker_user_and_may_publish_only_its_topics(
    secured: SecuredBroker, manager: FakeAsteriskManager
) -> None:
    ops = secured.connect(secured.config("ops"))
    ivr = secured.connect(secured.config("agi-test"))
    assert ops is not None and ivr is not None
    everything = Watcher(ops, f"{TOPICS.root}/#")
    everything.prove_active(ivr, TOPICS.daemon_status("agi", "test"))

    ami = RunningAmi(
        secured.config(
            "ami-test",
            telephony={"callbacks": callbacks_settings(manager.server.port, queues=[QUEUE])},
        )
    )
    try:
        wait_until(lambda: ami.health["ami"] == "ready", 15, "the AMI login")
        assert ami.runtime is not None
        store = ami.runtime.side.store
        # the IVR's candidate of a caller who pressed 0, as agi-test publishes it
        transferred = ivr_transfer().model_copy(
            update={"source": ivr_transfer().source.model_copy(update={"id": "test"})}
        )
        # sent again until read: the daemon says ready once AMI is, its MQTT subscription may
        # come a moment later (a new session keeps nothing sent before it); the same call
        # twice is one call
        deadline = time.monotonic() + 20
        while not store.ivr_handled(CALLER_UNIQUEID):
            assert time.monotonic() < deadline, "the IVR's call was never read by ami"
            assert ivr.publish_and_wait(
                TOPICS.candidate(SourceKind.CALL, "test"), transferred.to_json(), timeout=10
            )
            time.sleep(0.5)

        sent = asyncio.run_coroutine_threadsafe(
            manager.server.send_events(
                recorded("queue-call", "AgentConnect") + recorded("queue-abandon", "Cdr")
            ),
            manager.loop,
        )
        assert sent.result(5) == 1
        assert everything.wait_for(lambda _m: bool(on(everything, "agent-calls")), 15), "no pop"
        pop = parse_message(on(everything, "agent-calls")[0], expect=AgentCall)
        assert isinstance(pop, AgentCall) and pop.uniqueid == CALLER_UNIQUEID
        assert pop.ivr is not None, "the pop lacks what the IVR published: not read"

        def records() -> list[CandidateCase]:
            out = []
            for payload in on(everything, "candidates"):
                candidate = parse_message(payload, expect=CandidateCase)
                assert isinstance(candidate, CandidateCase)
                if candidate.facts.get("recorded_from") == "cdr":
                    out.append(candidate)
            return out

        assert everything.wait_for(lambda _m: bool(records()), 20), (
            "no record of the abandoned call"
        )
        [record] = records()
        assert record.facts["uniqueid"] == ABANDONED and record.source.id == "test"
        assert everything.wait_for(lambda _m: bool(on(everything, "agent-queues")), 10)
        figures = parse_message(on(everything, "agent-queues")[-1], expect=AgentQueues)
        assert isinstance(figures, AgentQueues) and figures.ami == "ready"
    finally:
        ami.close()
    assert ami.error is None

    # as ami-test, what the ACL does not give it: the core's case events, another hotline's
    # calls. MQTT 3.1.1: the broker acknowledges and drops. A message it may send, sent
    # after them, arrives; the two before it do not.
    thief = secured.connect(secured.config("ami-test"))
    assert thief is not None
    everything.messages.clear()
    forged = transferred.model_copy(update={"id": "call-forged-for-other"})
    assert thief.publish_and_wait(TOPICS.case_events("forged"), b'{"forged": 1}', timeout=10)
    assert thief.publish_and_wait(
        TOPICS.candidate(SourceKind.CALL, "other"), forged.to_json(), timeout=10
    )
    assert thief.publish_and_wait(TOPICS.agent_queues("test"), figures.to_json(), timeout=10)
    assert everything.wait_for(lambda _m: bool(on(everything, "agent-queues")), 10)
    assert [m.topic for m in everything.messages] == [TOPICS.agent_queues("test")]
