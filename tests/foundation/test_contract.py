"""The MQTT contract: every message type round-trips; every malformed input is refused with a reason."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.contract import (
    CONTRACT_VERSION,
    CameraState,
    CameraStatus,
    CandidateCase,
    CaseEvent,
    CaseFeedback,
    ContractError,
    DaemonState,
    DaemonStatus,
    Evidence,
    EvidenceRole,
    Location,
    Reporter,
    Source,
    SourceKind,
    Topics,
    dead_letter_for,
    parse_message,
    stable_message_id,
)

CAMERA = Source(kind=SourceKind.CAMERA, id="cam-gate-3")
AT = datetime(2026, 3, 2, 8, 30, 15, 123000, tzinfo=UTC)


def sample_messages() -> list:
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"
    candidate = CandidateCase.create(
        source=CAMERA,
        ts=AT,
        event_code="0505",
        title="机动车乱停放",
        description="白色轿车占用人行道",
        location=Location(
            grid_code="32070390100101",
            camera_id="cam-gate-3",
            zone_id="no-parking-1",
            lat=34.55,
            lon=119.15,
        ),
        evidence=[
            Evidence.from_bytes(
                jpeg, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT, name="snap.jpg"
            )
        ],
        reporter=Reporter(callback_number="13800138000"),
        facts={"track_id": 17, "dwell_s": 312.5, "class": "car"},
    )
    event = CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core-1"),
        ts=AT,
        case_id="C20260302-0001",
        case_number="2026030200001",
        action="dispatch",
        from_state="accepted",
        to_state="dispatched",
        event_code="0505",
        department="城管执法局",
        deadline=datetime(2026, 3, 3, 8, 30, tzinfo=UTC),
        light="green",
        candidate_ids=[candidate.id],
    )
    feedback = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        ts=AT,
        case_number="2026030200001",
        satisfaction="dissatisfied",
        reopen_requested=True,
    )
    daemon = DaemonStatus.create(
        source=Source(kind=SourceKind.DAEMON, id="video-edge1"),
        ts=AT,
        daemon="video",
        instance="edge1",
        state=DaemonState.ONLINE,
    )
    camera = CameraStatus.create(
        source=CAMERA,
        ts=AT,
        camera_id="cam-gate-3",
        state=CameraState.ONLINE,
        fps_in=25.0,
        fps_analysed=5.0,
        last_frame_at=AT,
    )
    letter = dead_letter_for(
        topic="citygw/v1/candidates/call/x",
        payload=b"{nope",
        error=ContractError("bad_json", "x"),
        consumer=CAMERA,
    )
    return [candidate, event, feedback, daemon, camera, letter]


@pytest.mark.parametrize("message", sample_messages(), ids=lambda m: m.SCHEMA)
def test_every_message_type_survives_a_round_trip_through_json(message) -> None:
    payload = message.to_json()
    parsed = parse_message(payload)
    assert type(parsed) is type(message)
    assert parsed == message
    assert parsed.to_json() == payload
    document = json.loads(payload)
    assert document["schema"] == message.SCHEMA
    assert document["version"] == CONTRACT_VERSION == "1.3"
    assert document["ts"].endswith("Z")


def test_evidence_bytes_come_back_identical_and_are_checked_against_their_hash() -> None:
    candidate = sample_messages()[0]
    parsed = parse_message(candidate.to_json())
    assert parsed.evidence[0].raw_bytes() == b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"
    document = json.loads(candidate.to_json())
    document["evidence"][0]["data"] = base64.b64encode(b"tampered").decode()
    with pytest.raises(ContractError) as caught:
        parse_message(json.dumps(document).encode())
    assert caught.value.code == "invalid"
    assert "evidence.0" in caught.value.reason


def valid_candidate_document() -> dict:
    return json.loads(sample_messages()[0].to_json())


def mutate(**changes) -> bytes:
    document = valid_candidate_document()
    for key, value in changes.items():
        if value is ...:
            document.pop(key)
        else:
            document[key] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("payload", "code", "reason_part"),
    [
        (b"{not json", "bad_json", "not JSON"),
        (b"\xff\xfe\x00garbage", "bad_encoding", "UTF-8"),
        (b"[1, 2, 3]", "not_an_object", "JSON object"),
        (b'"just a string"', "not_an_object", "JSON object"),
        (mutate(schema="citygw.unknown_thing"), "unknown_schema", "citygw.unknown_thing"),
        (mutate(schema=...), "unknown_schema", "None"),
        (mutate(version="2.0"), "unsupported_version", "major version 2"),
        (mutate(version="1"), "bad_version", "MAJOR.MINOR"),
        (mutate(version=1.0), "bad_version", "MAJOR.MINOR"),
        (mutate(event_code=505), "invalid", "event_code"),
        (mutate(event_code="55"), "invalid", "event_code"),
        (mutate(urgent="very"), "invalid", "urgent"),
        (mutate(ts="yesterday"), "invalid", "ts"),
        (mutate(ts="2026-03-02T08:30:15"), "invalid", "timezone"),
        (mutate(id=...), "invalid", "id"),
        (mutate(source=...), "invalid", "source"),
        (mutate(event_code=...), "invalid", "event_code"),
        (mutate(id="short"), "invalid", "id"),
        (mutate(location={"grid_code": "3207"}), "invalid", "location.grid_code"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
def test_malformed_messages_are_refused_with_a_clear_reason(
    payload: bytes, code: str, reason_part: str
) -> None:
    with pytest.raises(ContractError) as caught:
        parse_message(payload)
    assert caught.value.code == code
    assert reason_part in caught.value.reason


def test_a_10_megabyte_payload_is_refused_before_it_is_parsed() -> None:
    document = valid_candidate_document()
    document["description"] = "x" * (10 * 1024 * 1024)
    payload = json.dumps(document).encode()
    with pytest.raises(ContractError) as caught:
        parse_message(payload)
    assert caught.value.code == "too_large"
    assert str(len(payload)) in caught.value.reason


def test_a_newer_minor_version_with_unknown_fields_is_accepted() -> None:
    document = valid_candidate_document()
    document["version"] = "1.7"
    document["added_in_1_7"] = {"anything": True}
    parsed = parse_message(json.dumps(document).encode())
    assert isinstance(parsed, CandidateCase)
    assert parsed.version == "1.7"


def test_a_consumer_can_insist_on_one_message_type() -> None:
    event_payload = sample_messages()[1].to_json()
    with pytest.raises(ContractError) as caught:
        parse_message(event_payload, expect=CandidateCase)
    assert caught.value.code == "unexpected_schema"


def test_stable_ids_repeat_for_the_same_facts_and_differ_otherwise() -> None:
    assert stable_message_id("call", "1700000000.42") == stable_message_id("call", "1700000000.42")
    assert stable_message_id("call", "1700000000.42") != stable_message_id("call", "1700000000.43")
    assert (
        CandidateCase.create(source=CAMERA, event_code="0505").id
        != CandidateCase.create(source=CAMERA, event_code="0505").id
    )


def test_topics_are_built_under_the_configured_root_and_refuse_wildcards() -> None:
    topics = Topics("city/v1/")
    assert topics.candidate(SourceKind.CALL, "agi-1") == "city/v1/candidates/call/agi-1"
    assert topics.case_events("C1") == "city/v1/cases/C1/events"
    assert topics.daemon_status("video", "edge1") == "city/v1/status/video/edge1"
    assert topics.camera_status("cam-1") == "city/v1/cameras/cam-1/status"
    assert topics.all_candidates == "city/v1/candidates/#"
    with pytest.raises(ValueError):
        topics.candidate("call", "a/b")
    with pytest.raises(ValueError):
        topics.case_events("+")
    with pytest.raises(ValueError):
        Topics("bad/#")


# --------------------------------------------------------------------------- CaseEvent.encode

# any text a message may carry: every character but NUL, which parse_message refuses
# (nul_character: no text column stores it)
# what a message can carry: UTF-8 text without NUL (a lone surrogate, which JSON's \ud800
# escape can spell, has no UTF-8 form: a candidate carrying one is refused, see the test below)
_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(), _texts)
_facts = st.dictionaries(
    _texts,
    st.recursive(
        _json_leaf,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
        max_leaves=8,
    ),
    max_size=4,
)
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    case_number=st.none() | st.from_regex(r"C[0-9]{8}", fullmatch=True),
    from_state=st.none() | st.sampled_from(["candidate", "registered"]),
    event_code=st.none() | st.from_regex(r"0[1-5][0-9]{2}", fullmatch=True),
    grid_code=st.none() | st.from_regex(r"3207[0-9]{10}", fullmatch=True),
    department=st.none() | _texts,
    actor=st.none() | _texts,
    opinion=_texts,
    deadline=st.none() | _moments,
    light=st.none() | st.sampled_from(["green", "yellow", "red"]),
    candidate_ids=st.lists(st.from_regex(r"[a-z0-9]{8,20}", fullmatch=True), max_size=3),
    facts=_facts,
    ts=_moments,
)
def test_a_case_event_encoded_without_the_model_is_the_models_json_byte_for_byte(
    ts: datetime, **fields: object
) -> None:
    common = {
        "source": Source(kind=SourceKind.CORE, id="core-1"),
        "id": "case-event-0123456789abcdef",
        "ts": ts,
        "case_id": "case-42",
        "action": "dispatch",
        "to_state": "dispatched",
    }
    encoded = CaseEvent.encode(**common, **fields)  # type: ignore[arg-type]
    assert encoded == CaseEvent.create(**common, **fields).to_json()
    assert parse_message(encoded, expect=CaseEvent) == parse_message(encoded)


def test_a_lone_surrogate_escape_in_a_candidate_is_refused_not_stored() -> None:
    payload = CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="phone-7"),
        id="cand-0123456789abcdef",
        event_code="0102",
        title="井盖缺失",
        location=Location(grid_code="32070690100101"),
        facts={"note": "x"},
    ).to_json()
    spoiled = payload.replace(b'"note"', b'"\\ud800"')  # valid JSON, no UTF-8 form
    assert spoiled != payload and parse_message(payload, expect=CandidateCase)
    with pytest.raises(ContractError) as refused:
        parse_message(spoiled, expect=CandidateCase)
    assert refused.value.code == "bad_encoding" and "lone surrogate" in str(refused.value)
    # a pair is a character (an emoji as an ASCII-only encoder writes it): accepted
    paired = payload.replace(b'"note"', b'"\\ud83d\\ude97"')
    assert parse_message(paired, expect=CandidateCase).facts == {"\U0001f697": "x"}
    # an escaped backslash before "ud800" is text, not an escape
    text = payload.replace(b'"note"', b'"\\\\ud800"')
    assert parse_message(text, expect=CandidateCase).facts == {"\\ud800": "x"}


@pytest.mark.parametrize("lone", [b"\\ud800", b"\\uDFFF", b"a\\udc00b", b"\\ud83d\\u0041"])
def test_a_case_event_with_a_lone_surrogate_is_refused_too(lone: bytes) -> None:
    """Only the core sends case events, from stored text that cannot hold one; a consumer
    still refuses one instead of passing on text it could not write out."""
    encoded = CaseEvent.encode(
        source=Source(kind=SourceKind.CORE, id="core-1"),
        id="case-event-01234567",
        ts=datetime(2026, 12, 5, 8, 0, tzinfo=UTC),
        case_id="case-1",
        action="dispatch",
        to_state="dispatched",
        opinion="x",
    )
    assert b'"opinion":"x"' in encoded
    spoiled = encoded.replace(b'"opinion":"x"', b'"opinion":"' + lone + b'"')
    with pytest.raises(ContractError) as refused:
        parse_message(spoiled, expect=CaseEvent)
    assert refused.value.code == "bad_encoding"


def test_encoding_a_case_event_refuses_unknown_and_missing_fields() -> None:
    common = {"source": Source(kind=SourceKind.CORE, id="core-1"), "id": "case-event-01234567"}
    with pytest.raises(TypeError, match="missing"):
        CaseEvent.encode(**common, ts=datetime.now(UTC), case_id="c", action="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown"):
        CaseEvent.encode(  # type: ignore[arg-type]
            **common, ts=datetime.now(UTC), case_id="c", action="a", to_state="s", colour="red"
        )
