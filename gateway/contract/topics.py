"""Topic names under one root, and the rule that a producer publishes only on its own
topics."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from gateway.contract.candidates import CandidateCase
from gateway.contract.envelope import (
    _NOT_IN_SEGMENT,
    DEFAULT_TOPIC_ROOT,
    ContractError,
    Source,
    SourceKind,
)
from gateway.contract.messages import CaseFeedback, DeadLetter

# --------------------------------------------------------------------------- topics


class Topics:
    """Topic names under one root (config ``mqtt.topic_root``, default ``citygw/v1``)."""

    def __init__(self, root: str = DEFAULT_TOPIC_ROOT) -> None:
        root = root.strip("/")
        if not root or any(ch in root for ch in "+#\x00"):
            raise ValueError(f"invalid topic root {root!r}")
        self.root = root

    @staticmethod
    def _segment(value: str) -> str:
        if not value or _NOT_IN_SEGMENT.search(value):
            raise ValueError(f"invalid topic segment {value!r}")
        return value

    def candidate(self, source_kind: SourceKind | str, source_id: str) -> str:
        return (
            f"{self.root}/candidates/{self._segment(str(source_kind))}/{self._segment(source_id)}"
        )

    @property
    def all_candidates(self) -> str:
        return f"{self.root}/candidates/#"

    def case_events(self, case_id: str) -> str:
        return f"{self.root}/cases/{self._segment(case_id)}/events"

    @property
    def all_case_events(self) -> str:
        return f"{self.root}/cases/+/events"

    def feedback(self, source_kind: SourceKind | str, source_id: str) -> str:
        return f"{self.root}/feedback/{self._segment(str(source_kind))}/{self._segment(source_id)}"

    @property
    def all_feedback(self) -> str:
        return f"{self.root}/feedback/#"

    def daemon_status(self, daemon: str, instance: str) -> str:
        return f"{self.root}/status/{self._segment(daemon)}/{self._segment(instance)}"

    @property
    def all_daemon_status(self) -> str:
        return f"{self.root}/status/#"

    def camera_status(self, camera_id: str) -> str:
        return f"{self.root}/cameras/{self._segment(camera_id)}/status"

    @property
    def all_camera_status(self) -> str:
        return f"{self.root}/cameras/+/status"

    def receipts(self, consumer: str) -> str:
        return f"{self.root}/receipts/{self._segment(consumer)}"

    @property
    def all_receipts(self) -> str:
        return f"{self.root}/receipts/+"

    def dead_letter(self, consumer: str) -> str:
        return f"{self.root}/deadletter/{self._segment(consumer)}"

    @property
    def all_dead_letters(self) -> str:
        return f"{self.root}/deadletter/#"

    def verification_request(self, camera_id: str) -> str:
        return f"{self.root}/commands/video/{self._segment(camera_id)}/verify"

    @property
    def all_verification_requests(self) -> str:
        return f"{self.root}/commands/video/+/verify"

    def verification_result(self, camera_id: str) -> str:
        return f"{self.root}/results/video/{self._segment(camera_id)}/verify"

    @property
    def all_verification_results(self) -> str:
        return f"{self.root}/results/video/+/verify"

    def ptz_command(self, camera_id: str) -> str:
        return f"{self.root}/commands/video/{self._segment(camera_id)}/ptz"

    @property
    def all_ptz_commands(self) -> str:
        return f"{self.root}/commands/video/+/ptz"

    def agent_call(self, source_id: str) -> str:
        return f"{self.root}/agent-calls/{self._segment(source_id)}"

    @property
    def all_agent_calls(self) -> str:
        return f"{self.root}/agent-calls/+"

    def agent_queues(self, source_id: str) -> str:
        return f"{self.root}/agent-queues/{self._segment(source_id)}"

    @property
    def all_agent_queues(self) -> str:
        return f"{self.root}/agent-queues/+"

    def camera_event(
        self, camera_id: str, event_topic: str, source_items: Mapping[str, str]
    ) -> str:
        """``cameras/<camera-id>/events/<topic path>/<source>``: the ONVIF topic's parts
        without namespace prefixes, then the source items (``k=v,...``, ``-`` for none)."""
        return (
            f"{self.root}/cameras/{self._segment(camera_id)}/events/"
            f"{event_topic_path(event_topic)}/{source_segment(source_items)}"
        )

    @property
    def all_camera_events(self) -> str:
        return f"{self.root}/cameras/+/events/#"


_SEGMENT_MAX = 120


def _safe_segment(text: str) -> str:
    """``text`` as one topic segment: characters MQTT forbids in a segment become ``_``;
    a long one is cut and named by a hash of the whole, so two never collide by the cut."""
    safe = _NOT_IN_SEGMENT.sub("_", text) or "_"
    if len(safe) > _SEGMENT_MAX:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        safe = f"{safe[: _SEGMENT_MAX - 13]}~{digest}"
    return safe


def event_topic_path(event_topic: str) -> str:
    """``tns1:RuleEngine/FieldDetector/ObjectsInside`` -> ``RuleEngine/FieldDetector/ObjectsInside``
    (prefixes are the device's choice, as `topic_matches` in the video gateway ignores them)."""
    parts = [p.rpartition(":")[2] for p in event_topic.strip().strip("/").split("/")]
    return "/".join(_safe_segment(p) for p in parts[:16])


def source_segment(source_items: Mapping[str, str]) -> str:
    """The source items as one segment, in name order (``-`` when the event has none)."""
    if not source_items:
        return "-"
    return _safe_segment(",".join(f"{k}={source_items[k]}" for k in sorted(source_items)))


def dead_letter_for(
    *, topic: str, payload: bytes, error: ContractError, consumer: Source, head_bytes: int = 4096
) -> DeadLetter:
    """The dead-letter message for a payload a consumer rejected."""
    return DeadLetter.create(
        source=consumer,
        original_topic=topic,
        error_code=error.code,
        reason=error.reason[:4000],
        payload_size=len(payload),
        payload_head_b64=base64.b64encode(payload[:head_bytes]).decode("ascii"),
    )


def check_candidate_topic(candidate: CandidateCase, topic: str, topics: Topics) -> None:
    """Raise `ContractError` ``source_mismatch`` unless ``topic`` is the candidate topic of
    its own source (``candidates/<source.kind>/<source.id>``): a producer speaks for itself."""
    source = candidate.source
    _check_source_topic("candidate", source, topic, topics.candidate(source.kind, source.id))


def check_feedback_topic(feedback: CaseFeedback, topic: str, topics: Topics) -> None:
    """As `check_candidate_topic`, for ``feedback/<source.kind>/<source.id>``."""
    source = feedback.source
    _check_source_topic("feedback", source, topic, topics.feedback(source.kind, source.id))


def _check_source_topic(what: str, source: Source, topic: str, expected: str) -> None:
    if topic != expected:
        raise ContractError(
            "source_mismatch",
            f"a {what} from {source.kind}/{source.id} belongs on {expected}, not on {topic[:300]}",
        )
