"""The MQTT contract of citygw (v1): topics and message schemas.

This is the one package both sides import (`from gateway.contract import ...`); its
modules: `envelope` (versions, limits, ids, the common fields), `candidates`, `messages`,
`ptz`, `agent_calls`, `topics`, `parsing`. Every message is a JSON object with:

- ``schema``: the message kind, e.g. ``citygw.candidate_case``;
- ``version``: ``"MAJOR.MINOR"``; a consumer accepts its own major version and any minor
  (unknown fields of a newer minor are ignored), and rejects other majors with a reason;
- ``id``: globally unique, generated at the source: the idempotency key consumers store by;
- ``ts``: RFC 3339 UTC timestamp of when the source produced it;
- ``source``: who produced it (kind + id).

`parse_message` turns bytes into a typed message or raises `ContractError` carrying a
machine-readable ``code`` and a human reason. It does no I/O.
"""

from __future__ import annotations

from gateway.contract.agent_calls import AgentCall, AgentQueues, QueueFigure
from gateway.contract.candidates import (
    CandidateCase,
    Evidence,
    EvidenceRole,
    Location,
    Reporter,
)
from gateway.contract.envelope import (
    CONTRACT_MAJOR,
    CONTRACT_VERSION,
    DEFAULT_TOPIC_ROOT,
    EVENT_CODE_PATTERN,
    GRID_CODE_PATTERN,
    MAX_FACTS_BYTES,
    MAX_FACTS_DEPTH,
    MAX_PAYLOAD_BYTES,
    ContractError,
    Source,
    SourceKind,
    _Message,
    check_facts,
    new_message_id,
    stable_message_id,
    utc,
)
from gateway.contract.messages import (
    MESSAGE_TYPES,
    CameraEventState,
    CameraState,
    CameraStatus,
    CaseEvent,
    CaseFeedback,
    DaemonState,
    DaemonStatus,
    DeadLetter,
    Message,
    Receipt,
    VerificationRequest,
    VerificationResult,
    VerificationVerdict,
)
from gateway.contract.parsing import (
    parse_document,
    parse_message,
)
from gateway.contract.ptz import PtzAction, PtzCommand
from gateway.contract.topics import (
    Topics,
    check_candidate_topic,
    check_feedback_topic,
    dead_letter_for,
    event_topic_path,
    source_segment,
)

__all__ = [
    "CONTRACT_MAJOR",
    "CONTRACT_VERSION",
    "DEFAULT_TOPIC_ROOT",
    "EVENT_CODE_PATTERN",
    "GRID_CODE_PATTERN",
    "MAX_FACTS_BYTES",
    "MAX_FACTS_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_TYPES",
    "AgentCall",
    "AgentQueues",
    "CameraEventState",
    "CameraState",
    "CameraStatus",
    "CandidateCase",
    "CaseEvent",
    "CaseFeedback",
    "ContractError",
    "DaemonState",
    "DaemonStatus",
    "DeadLetter",
    "Evidence",
    "EvidenceRole",
    "Location",
    "Message",
    "PtzAction",
    "PtzCommand",
    "QueueFigure",
    "Receipt",
    "Reporter",
    "Source",
    "SourceKind",
    "Topics",
    "VerificationRequest",
    "VerificationResult",
    "VerificationVerdict",
    "_Message",
    "check_candidate_topic",
    "check_facts",
    "check_feedback_topic",
    "dead_letter_for",
    "event_topic_path",
    "new_message_id",
    "parse_document",
    "parse_message",
    "source_segment",
    "stable_message_id",
    "utc",
]
