"""The MQTT contract as an AsyncAPI 3.0 document, generated from `gateway.contract`.

`CHANNELS` names, for each topic `Topics` builds, its address with ``{parameters}``, the
message it carries, who publishes it and who subscribes, and whether it is retained.
Each address is checked against `Topics` itself: the generator fills in an example for
each parameter and refuses to write a document whose address differs from what the
`Topics` method makes of the same values. Payload schemas come from the pydantic models
(validation mode: what a consumer accepts; ``schema`` fixed to the message's name), and
each message has an example made with its model.

    python -m gateway.contract_asyncapi            # writes docs/asyncapi.yaml
    python -m gateway.contract_asyncapi --check    # exit 1 if it differs from the code

``tests/foundation/test_contract_asyncapi.py`` regenerates it and compares, so CI fails
when the contract changes and the document was not regenerated.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from gateway import contract as c

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"
ASYNCAPI_VERSION = "3.0.0"
MQTT_BINDING_VERSION = "0.2.0"
_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Channel:
    """One topic of the contract."""

    name: str  # the channel's key in the document
    topic: Callable[[c.Topics], str]  # the `Topics` method, called with `examples`' values
    address: str  # under the root, with {parameters}
    parameters: Mapping[str, str]  # name -> description
    examples: Mapping[str, str]  # name -> an example value
    message: type[c._Message]
    summary: str
    senders: tuple[str, ...]
    receivers: tuple[str, ...]
    retained: bool = False
    receive_qos: int = 1


_KIND = "call, camera, inspector or api (`SourceKind`)"
_CAMERA = {"cameraId": "the camera's id in the video gateway's configuration"}

CHANNELS: tuple[Channel, ...] = (
    Channel(
        "candidates",
        lambda t: t.candidate("camera", "gate-3"),
        "candidates/{sourceKind}/{sourceId}",
        {"sourceKind": _KIND, "sourceId": "the source's id: gateway instance, camera, user"},
        {"sourceKind": "camera", "sourceId": "gate-3"},
        c.CandidateCase,
        "A proposed case. Accepted only on its own source's topic (source_mismatch). The"
        " hotline's AMI side (ami) publishes on its host's call source too (records of calls"
        " the IVR never handled, callbacks) and reads what the IVR (telephony) publishes there.",
        ("telephony", "ami", "video", "inspector-app"),
        ("core", "ami"),
    ),
    Channel(
        "receipts",
        lambda t: t.receipts("core"),
        "receipts/{consumer}",
        {"consumer": "the consumer that committed the messages (core)"},
        {"consumer": "core"},
        c.Receipt,
        "Ids a consumer committed or refused for good: an edge outbox keeps a message "
        "until a receipt names it.",
        ("core",),
        ("telephony", "ami", "video"),
    ),
    Channel(
        "caseEvents",
        lambda t: t.case_events("case-0001"),
        "cases/{caseId}/events",
        {"caseId": "the case's id"},
        {"caseId": "case-0001"},
        c.CaseEvent,
        "A committed state change of a case.",
        ("core",),
        ("telephony", "ami", "video", "departments"),
    ),
    Channel(
        "feedback",
        lambda t: t.feedback("call", "ivr-1"),
        "feedback/{sourceKind}/{sourceId}",
        {"sourceKind": _KIND, "sourceId": "the source's id"},
        {"sourceKind": "call", "sourceId": "ivr-1"},
        c.CaseFeedback,
        "A citizen's satisfaction with a closed case; dissatisfied asks to reopen it (the IVR's"
        " survey, or a callback's from the AMI side).",
        ("telephony", "ami"),
        ("core",),
    ),
    Channel(
        "daemonStatus",
        lambda t: t.daemon_status("video", "edge-1"),
        "status/{daemon}/{instance}",
        {"daemon": "core, agi, ami or video", "instance": "the daemon's instance name"},
        {"daemon": "video", "instance": "edge-1"},
        c.DaemonStatus,
        "Availability: online on each connect, offline on a clean stop and as last will.",
        ("core", "telephony", "ami", "video"),
        ("core",),
        retained=True,
        receive_qos=0,
    ),
    Channel(
        "cameraStatus",
        lambda t: t.camera_status("gate-3"),
        "cameras/{cameraId}/status",
        _CAMERA,
        {"cameraId": "gate-3"},
        c.CameraStatus,
        "A camera's health, on each change and periodically.",
        ("video",),
        ("core",),
        retained=True,
        receive_qos=0,
    ),
    Channel(
        "cameraEvents",
        lambda t: t.camera_event(
            "gate-3", "tns1:RuleEngine/FieldDetector/ObjectsInside", {"Rule": "MyRule"}
        ),
        "cameras/{cameraId}/events/{topicPath}/{source}",
        {
            **_CAMERA,
            "topicPath": "the ONVIF topic without namespace prefixes; several levels, "
            "e.g. RuleEngine/FieldDetector/ObjectsInside",
            "source": "the event's source items, k=v,... in name order (- for none)",
        },
        {
            "cameraId": "gate-3",
            "topicPath": "RuleEngine/FieldDetector/ObjectsInside",
            "source": "Rule=MyRule",
        },
        c.CameraEventState,
        "The state of one camera-side (ONVIF) event, rule or not.",
        ("video",),
        ("operators' tools",),
        retained=True,
    ),
    Channel(
        "deadLetters",
        lambda t: t.dead_letter("core"),
        "deadletter/{consumer}",
        {"consumer": "the consumer that refused the message"},
        {"consumer": "core"},
        c.DeadLetter,
        "A message a consumer refused, with the reason and its first bytes.",
        ("core", "telephony", "video"),
        ("operators' tools",),
    ),
    Channel(
        "verificationRequests",
        lambda t: t.verification_request("gate-3"),
        "commands/video/{cameraId}/verify",
        _CAMERA,
        {"cameraId": "gate-3"},
        c.VerificationRequest,
        "The core asks the gateway pulling the camera to look again at a case (核查).",
        ("core",),
        ("video",),
    ),
    Channel(
        "verificationResults",
        lambda t: t.verification_result("gate-3"),
        "results/video/{cameraId}/verify",
        _CAMERA,
        {"cameraId": "gate-3"},
        c.VerificationResult,
        "The answer to a verification request, with before and after snapshots.",
        ("video",),
        ("core",),
    ),
    Channel(
        "ptzCommands",
        lambda t: t.ptz_command("gate-3"),
        "commands/video/{cameraId}/ptz",
        _CAMERA,
        {"cameraId": "gate-3"},
        c.PtzCommand,
        "A person at the live view moves the camera (preset, step, speed, stop); the outcome"
        " is told in the camera's status (faults ptz, rules).",
        ("core",),
        ("video",),
    ),
    Channel(
        "agentCalls",
        lambda t: t.agent_call("ivr-1"),
        "agent-calls/{sourceId}",
        {"sourceId": "the hotline's instance (its calls' source id)"},
        {"sourceId": "ivr-1"},
        c.AgentCall,
        "An agent took a queued hotline call (AMI AgentConnect): the core pops the caller,"
        " the IVR path and the caller's earlier cases on that agent's console.",
        ("ami",),
        ("core",),
    ),
    Channel(
        "agentQueues",
        lambda t: t.agent_queues("ivr-1"),
        "agent-queues/{sourceId}",
        {"sourceId": "the hotline's instance (its calls' source id)"},
        {"sourceId": "ivr-1"},
        c.AgentQueues,
        "The agents' queue figures (waiting, longest wait, answered, abandoned, agents) and"
        " the gateway's AMI state, on each change and at least every minute.",
        ("ami",),
        ("core",),
        retained=True,
        receive_qos=0,
    ),
)


# --------------------------------------------------------------------------- examples

_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
_JPEG = b"\xff\xd8\xff\xe0 an example snapshot"


def _evidence() -> c.Evidence:
    return c.Evidence.from_bytes(_JPEG, media_type="image/jpeg", role=c.EvidenceRole.SNAPSHOT)


def _examples() -> dict[type[c._Message], c._Message]:
    """One valid message of each kind, made with the models (so it parses)."""
    camera = c.Source(kind=c.SourceKind.CAMERA, id="gate-3")
    core = c.Source(kind=c.SourceKind.CORE, id="core")
    video = c.Source(kind=c.SourceKind.DAEMON, id="video-edge-1")
    snapshot = _evidence()
    return {
        message.__class__: message
        for message in (
            c.CandidateCase.create(
                source=camera,
                id="gate-3:0505:track-17",
                ts=_AT,
                event_code="0505",
                title="机动车乱停放",
                location=c.Location(camera_id="gate-3", zone_id="no-parking", lat=34.6, lon=119.2),
                evidence=[snapshot],
                facts={"rule": "parked", "track_id": 17, "class": "car", "dwell_s": 312},
            ),
            c.Receipt.create(
                source=core,
                id="receipt-0001",
                ts=_AT,
                consumer="core",
                ids=["gate-3:0505:track-17"],
            ),
            c.CaseEvent.create(
                source=core,
                id="case-0001:3",
                ts=_AT,
                case_id="case-0001",
                case_number="C00000012",
                action="dispatch",
                from_state="registered",
                to_state="processing",
                event_code="0505",
                grid_code="32070300100101",
                department="traffic",
                deadline=datetime(2026, 1, 5, 13, 30, tzinfo=UTC),
                light="green",
            ),
            c.CaseFeedback.create(
                source=c.Source(kind=c.SourceKind.CALL, id="ivr-1"),
                id="ivr-1:feedback:0001",
                ts=_AT,
                case_number="C00000012",
                satisfaction="satisfied",
            ),
            c.DaemonStatus.create(
                source=video,
                id="edge-1:status:0001",
                ts=_AT,
                daemon="video",
                instance="edge-1",
                state=c.DaemonState.ONLINE,
                software_version="0.1.0",
            ),
            c.CameraStatus.create(
                source=video,
                id="gate-3:status:0001",
                ts=_AT,
                camera_id="gate-3",
                state=c.CameraState.ONLINE,
                fps_in=25.0,
                fps_analysed=5.0,
                last_frame_at=_AT,
                gateway="edge-1",
            ),
            c.CameraEventState.create(
                source=camera,
                id="gate-3:event:0001",
                ts=_AT,
                camera_id="gate-3",
                topic="tns1:RuleEngine/FieldDetector/ObjectsInside",
                source_items={"Rule": "MyRule"},
                data={"IsInside": "true"},
                active=True,
                started_at=_AT,
                operation="Changed",
            ),
            c.DeadLetter.create(
                source=core,
                id="core:dead:0001",
                ts=_AT,
                original_topic="citygw/v1/candidates/camera/gate-3",
                error_code="bad_json",
                reason="not JSON: Expecting value: line 1 column 1 (char 0)",
                payload_size=9,
                payload_head_b64=base64.b64encode(b"not json!").decode("ascii"),
            ),
            c.VerificationRequest.create(
                source=core,
                id="case-0001:verify:1",
                ts=_AT,
                case_id="case-0001",
                case_number="C00000012",
                request_seq=1,
                camera_id="gate-3",
                event_code="0505",
                zone_id="no-parking",
                label="car",
                boxes=[(650.0, 40.0, 725.0, 100.0)],
                frame_size=(768, 576),
            ),
            c.VerificationResult.create(
                source=video,
                id="case-0001:verify:1:result",
                ts=_AT,
                request_id="case-0001:verify:1",
                case_id="case-0001",
                camera_id="gate-3",
                verdict=c.VerificationVerdict.CLEARED,
                passes=10,
                passes_present=0,
                checked_from=_AT,
                checked_to=_AT,
                evidence=[snapshot],
                before_sha256=snapshot.sha256,
                after_sha256=snapshot.sha256,
            ),
            c.AgentCall.create(
                source=c.Source(kind=c.SourceKind.CALL, id="ivr-1"),
                id="ivr-1:agent:1796393504.9",
                ts=_AT,
                uniqueid="1796393504.9",
                linkedid="1796393504.8",
                caller_number="13800138000",
                caller_name="Test Citizen",
                queue="citygw-12319-agents",
                interface="PJSIP/8001",
                member_name="Agent One",
                hold_s=12,
                ivr={
                    "title": "12319 来电：转人工",
                    "facts": {"call_purpose": "transfer", "keys": ["main_menu:0"]},
                },
            ),
            c.AgentQueues.create(
                source=c.Source(kind=c.SourceKind.CALL, id="ivr-1"),
                id="ivr-1:queues:0001",
                ts=_AT,
                ami="ready",
                callbacks_state="running",
                figures_age_s=2.5,
                queues=[
                    c.QueueFigure(
                        queue="citygw-12319-agents",
                        waiting=2,
                        longest_wait_s=35,
                        answered=120,
                        abandoned=4,
                        agents_logged_in=3,
                        agents_available=1,
                    )
                ],
            ),
            c.PtzCommand.create(
                source=core,
                id="core:ptz:0001",
                ts=_AT,
                camera_id="gate-3",
                action=c.PtzAction.GOTO_PRESET,
                preset="1",
                requested_by="op1",
            ),
        )
    }


# --------------------------------------------------------------------------- the document


def _check_address(channel: Channel, topics: c.Topics) -> str:
    """The full address; raises ValueError if `Topics` makes another topic of the examples."""
    names = _PARAMETER.findall(channel.address)
    if set(names) != set(channel.parameters) or set(names) != set(channel.examples):
        raise ValueError(f"{channel.name}: parameters, examples and address disagree")
    expected = _PARAMETER.sub(lambda m: channel.examples[m[1]], channel.address)
    made = channel.topic(topics)
    if made != f"{topics.root}/{expected}":
        raise ValueError(f"{channel.name}: Topics makes {made!r}, the address says {expected!r}")
    return f"{topics.root}/{channel.address}"


def _schemas() -> tuple[dict[str, str], dict[str, Any]]:
    """Each message's payload schema name, and all schemas (models and their parts)."""
    models = [channel.message for channel in CHANNELS]
    refs, top = models_json_schema(
        [(model, "validation") for model in models],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = _draft_07(top.get("$defs", {}))
    names = {}
    for model in models:
        name = refs[(model, "validation")]["$ref"].rsplit("/", 1)[1]
        names[model.SCHEMA] = name
        payload = schemas[name]
        payload["properties"]["schema"] = {"type": "string", "const": model.SCHEMA}
        payload["properties"]["version"] = {
            "type": "string",
            "pattern": r"^\d{1,9}\.\d{1,9}$",
            "description": f"MAJOR.MINOR: {c.CONTRACT_VERSION} now; a consumer accepts major "
            f"{c.CONTRACT_MAJOR} with any minor and refuses other majors",
        }
        payload["required"] = sorted({"schema", "version", *payload.get("required", ())})
    return names, schemas


def _draft_07(node: Any) -> Any:
    """Pydantic writes tuples as JSON Schema 2020-12 ``prefixItems``; AsyncAPI 3.0's schema
    format is a superset of draft 07, which says the same with an ``items`` array."""
    if isinstance(node, dict):
        out = {key: _draft_07(value) for key, value in node.items()}
        if "prefixItems" in out:
            out["items"] = out.pop("prefixItems")
        return out
    if isinstance(node, list):
        return [_draft_07(item) for item in node]
    return node


def _operation(
    channel: Channel, participant: str, action: str, qos: int
) -> tuple[str, dict[str, Any]]:
    verb = "sends" if action == "send" else "receives"
    key = re.sub(r"\W+", "_", f"{participant} {verb} {channel.name}")
    binding = {"qos": qos, "bindingVersion": MQTT_BINDING_VERSION}
    if action == "send":
        binding["retain"] = channel.retained
    return key, {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel.name}"},
        "summary": f"{participant} {verb} {channel.message.SCHEMA}",
        "tags": [{"name": participant}],
        "bindings": {"mqtt": binding},
        "messages": [{"$ref": f"#/channels/{channel.name}/messages/{channel.name}"}],
    }


def asyncapi_document(topic_root: str = c.DEFAULT_TOPIC_ROOT) -> dict[str, Any]:
    """The whole contract as an AsyncAPI 3.0 document (a dict ready for YAML or JSON)."""
    topics = c.Topics(topic_root)
    names, schemas = _schemas()
    examples = _examples()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel in CHANNELS:
        model = channel.message
        example = examples[model]
        messages[channel.name] = {
            "name": model.SCHEMA,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{names[model.SCHEMA]}"},
            "correlationId": {
                "description": "the message's id: the idempotency key consumers store by",
                "location": "$message.payload#/id",
            },
            "examples": [{"name": "example", "payload": json.loads(example.to_json())}],
        }
        channels[channel.name] = {
            "address": _check_address(channel, topics),
            "title": model.SCHEMA,
            "description": channel.summary + (" Retained." if channel.retained else ""),
            "parameters": {
                name: {"description": text, "examples": [channel.examples[name]]}
                for name, text in channel.parameters.items()
            },
            "messages": {channel.name: {"$ref": f"#/components/messages/{channel.name}"}},
        }
        for sender in channel.senders:
            key, operation = _operation(channel, sender, "send", 1)
            operations[key] = operation
        for receiver in channel.receivers:
            key, operation = _operation(channel, receiver, "receive", channel.receive_qos)
            operations[key] = operation
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "citygw MQTT contract",
            "version": c.CONTRACT_VERSION,
            "description": _description(topic_root),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "localhost:1883",
                "protocol": "mqtt",
                "protocolVersion": "3.1.1",
                "description": "Mosquitto; host and port are the configuration's mqtt "
                "section. Persistent sessions (clean_session false), QoS 1.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _description(topic_root: str) -> str:
    first = (c.__doc__ or "").strip()
    return (
        f"Generated from gateway/contract/ by `python -m gateway.contract_asyncapi`; "
        f"do not edit by hand.\n\nTopics are under `{topic_root}` (the configuration's "
        f"mqtt.topic_root). Messages larger than {c.MAX_PAYLOAD_BYTES} bytes are refused; "
        f"a candidate's facts nest at most {c.MAX_FACTS_DEPTH} levels and take at most "
        f"{c.MAX_FACTS_BYTES} bytes as JSON. A refused message is acknowledged, kept as a "
        f"dead letter and never blocks the ones after it.\n\n{first}"
    )


class _Dumper(yaml.SafeDumper):
    """Text with line breaks as literal blocks (readable in a diff), the rest as usual."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(document: Mapping[str, Any] | None = None) -> str:
    """The document as YAML text: stable (insertion order), UTF-8, 100 columns."""
    text = yaml.dump(
        dict(document or asyncapi_document()),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return f"# Generated from gateway/contract/: python -m gateway.contract_asyncapi\n{text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} differs from gateway/contract/: regenerate it", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
