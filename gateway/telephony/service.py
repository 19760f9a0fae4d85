"""The telephony service: runs the IVR on a call, then turns the call into messages.

Every call ends in one candidate (a report, or the record of a consultation, a status
query, a transfer or a call that chose nothing: see `call_report`), plus the survey's
feedback when the caller answered one.

The caller is never kept waiting for MQTT: the flow runs first; only after the channel
is released (the FastAGI socket closed) are the recordings read and the candidate and
feedback stored in the durable outbox, from where they drain to the broker whenever it
is reachable. A message the outbox refuses (full) is written to ``unsent/`` beside it,
with its recordings kept, and offered to the outbox again from there until it takes it
(`gateway.spill`): nothing a caller said is lost.
"""

from __future__ import annotations

import logging
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.contract import (
    CandidateCase,
    CaseFeedback,
    ContractError,
    Evidence,
    EvidenceRole,
    Message,
    Source,
    SourceKind,
)
from gateway.observability import NO_METRICS, Counter, Metrics
from gateway.spill import SpillFolder
from gateway.telephony.call_report import candidate_from_call, feedback_from_call
from gateway.telephony.channel import CallChannel
from gateway.telephony.ivr import CallRecord, CaseNumberSource, Ivr, StatusLookup
from gateway.telephony.settings import TelephonyConfig

log = logging.getLogger(__name__)

#: room left in a payload for everything but the recordings
_ENVELOPE_RESERVE = 256 * 1024


class CallPublisher(Protocol):
    """Where a call's messages go (`gateway.publishing.ContractPublisher` over the outbox)."""

    def candidate(self, candidate: CandidateCase) -> int: ...

    def feedback(self, feedback: CaseFeedback) -> int: ...


class TelephonyService:
    def __init__(
        self,
        config: TelephonyConfig,
        *,
        instance: str,
        publisher: CallPublisher,
        case_numbers: CaseNumberSource,
        status: StatusLookup,
        clock: Clock,
        unsent_dir: Path,
        max_payload_bytes: int,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.config = config
        self.source = Source(kind=SourceKind.CALL, id=instance)
        self._publisher = publisher
        self._clock = clock
        self.unsent = SpillFolder(unsent_dir, self._resend)
        self._evidence_budget = max(0, max_payload_bytes - _ENVELOPE_RESERVE)
        self.ivr = Ivr(config, case_numbers=case_numbers, status=status, clock=clock)
        self._counts = threading.Lock()
        self.calls_handled = 0
        self.candidates_published = 0
        self.feedback_published = 0
        self.messages_unsent = 0
        self._metrics = metrics
        self._by_outcome: dict[str, Counter] = {}

    def handle_call(self, channel: CallChannel) -> Callable[[], None]:
        """Run the call; returns the follow-up to run once the channel is released."""
        call = self.ivr.run(channel)
        outcome = str(call.outcome or "unknown")
        with self._counts:
            self.calls_handled += 1
            counter = self._by_outcome.get(outcome)
            if counter is None:
                counter = self._metrics.counter(
                    "citygw_agi_calls_total", "Calls the IVR ran, by outcome", {"outcome": outcome}
                )
                self._by_outcome[outcome] = counter
        counter.inc()
        log.info(
            "call %s from %s: %s at %s (service %s, case %s)",
            call.info.uniqueid,
            call.info.caller_number or "?",
            call.outcome,
            call.stage,
            call.service,
            call.case_number or "-",
            extra={"call": call.info.uniqueid, "case": call.case_number},
        )
        return lambda: self.publish_call(call)

    # ------------------------------------------------------------------ after the call

    def publish_call(self, call: CallRecord) -> None:
        evidence, evidence_facts, files = self._evidence(call)
        candidate = candidate_from_call(
            call, self.config, source=self.source, evidence=evidence, extra_facts=evidence_facts
        )
        feedback = feedback_from_call(call, source=self.source)
        candidate_stored = self._store(candidate, self._publisher.candidate)
        feedback_stored = feedback is None or self._store(feedback, self._publisher.feedback)
        with self._counts:
            self.candidates_published += int(candidate_stored)
            self.feedback_published += int(feedback is not None and feedback_stored)
        if self.config.keep_recordings:
            return
        for old in call.superseded:  # a description recorded again: the first take goes
            Path(old.file).unlink(missing_ok=True)
        if (
            candidate_stored
            and feedback_stored
            and not evidence_facts.get("recordings_not_attached")
        ):
            for file in files:
                file.unlink(missing_ok=True)

    def _store(self, message: CandidateCase | CaseFeedback, publish: Callable[[Any], int]) -> bool:
        try:
            publish(message)
            return True
        except Exception as exc:
            with self._counts:
                self.messages_unsent += 1
            target = self.unsent.keep(message)
            log.error(
                "%s %s not accepted by the outbox (%s); kept in %s",
                message.SCHEMA,
                message.id,
                exc,
                target,
            )
            return False

    def _resend(self, message: Message) -> None:
        """A kept message offered to the outbox again (raises while it still refuses)."""
        if isinstance(message, CandidateCase):
            self._publisher.candidate(message)
        elif isinstance(message, CaseFeedback):
            self._publisher.feedback(message)
        else:
            raise ContractError("unexpected_schema", f"{message.SCHEMA} among unsent calls")

    def _evidence(self, call: CallRecord) -> tuple[list[Evidence], dict[str, Any], list[Path]]:
        evidence: list[Evidence] = []
        facts: dict[str, Any] = {}
        files: list[Path] = []
        used = 0
        for label, recording in call.recordings.items():
            path = Path(recording.file)
            try:
                raw = path.read_bytes()
            except OSError as exc:
                facts.setdefault("recordings_missing", []).append(f"{label}: {exc.strerror}")
                continue
            files.append(path)
            encoded_size = (len(raw) + 2) // 3 * 4
            if used + encoded_size > self._evidence_budget:
                facts.setdefault("recordings_not_attached", []).append(str(path))
                log.warning(
                    "call %s: %s too large to attach; kept at %s", call.info.uniqueid, label, path
                )
                continue
            used += encoded_size
            evidence.append(
                Evidence.from_bytes(
                    raw, media_type="audio/wav", role=EvidenceRole.RECORDING, name=f"{label}.wav"
                )
            )
            audio = _wav_facts(path)
            if audio:
                facts.setdefault("recording_audio", {})[label] = audio
        return evidence, facts, files


def _wav_facts(path: Path) -> dict[str, Any] | None:
    try:
        with wave.open(str(path), "rb") as wav:
            return {
                "rate": wav.getframerate(),
                "channels": wav.getnchannels(),
                "bits": wav.getsampwidth() * 8,
                "seconds": round(wav.getnframes() / max(1, wav.getframerate()), 2),
            }
    except (OSError, EOFError, wave.Error):
        return None
