"""Poison messages: whatever a payload holds, the contract refuses it alone with a stable
code and raises nothing else; facts are bounded; a source speaks only on its own topic."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.contract import (
    MAX_FACTS_BYTES,
    MAX_FACTS_DEPTH,
    CandidateCase,
    CaseFeedback,
    ContractError,
    Source,
    SourceKind,
    Topics,
    check_candidate_topic,
    check_feedback_topic,
    parse_message,
)
from tests.foundation.poison_corpus import corpus, generated, pathological, valid_document


def refusal(payload: bytes) -> str:
    with pytest.raises(ContractError) as caught:
        parse_message(payload, expect=CandidateCase)
    return caught.value.code


@pytest.mark.parametrize("poison", pathological(), ids=lambda p: p.name)
def test_each_pathological_payload_is_refused_with_its_code(poison) -> None:  # type: ignore[no-untyped-def]
    try:
        message = parse_message(poison.payload, expect=CandidateCase)
    except ContractError as error:
        assert error.code in poison.codes, error.reason[:300]
        assert len(error.reason) <= 4000
        return
    assert isinstance(message, CandidateCase)
    assert poison.codes == {"source_mismatch"}, f"{poison.name} was accepted"
    with pytest.raises(ContractError) as caught:
        check_candidate_topic(message, poison.topic(), Topics())
    assert caught.value.code == "source_mismatch"


def test_every_generated_payload_is_refused_with_a_code_and_nothing_else_escapes() -> None:
    items = generated(400)
    codes: set[str] = set()
    for poison in items:
        code = refusal(poison.payload)
        assert code in poison.codes, (poison.name, code)
        codes.add(code)
    # the corpus reaches the decoder, the encoding check and the validator
    assert {"bad_json", "bad_encoding", "invalid"} <= codes


def test_the_corpus_is_the_same_on_every_run() -> None:
    assert [p.payload for p in corpus(50)] == [p.payload for p in corpus(50)]


def test_the_valid_document_of_the_corpus_is_valid() -> None:
    payload = json.dumps(valid_document(1)).encode()
    message = parse_message(payload, expect=CandidateCase)
    assert isinstance(message, CandidateCase) and message.facts == {"track_id": 1}


@pytest.mark.parametrize(
    ("where", "text", "refused"),
    [
        ("description", "井盖\x00缺失", True),
        ("facts", "\x00", True),
        ("description", "a backslash before u0000: \\u0000", False),
        ("description", "\\\x00", True),  # an escaped backslash, then the NUL itself
    ],
)
def test_a_nul_character_in_any_string_is_refused_with_its_own_code(
    where: str, text: str, refused: bool
) -> None:
    """Valid JSON and UTF-8, but PostgreSQL stores no U+0000 in text: refused at the door,
    not by the database (which failed the whole batch before)."""
    document = valid_document(1)
    if where == "facts":
        document["facts"] = {"note": text}
    else:
        document[where] = text
    payload = json.dumps(document).encode()
    if refused:
        assert refusal(payload) == "nul_character"
    else:
        message = parse_message(payload, expect=CandidateCase)
        assert isinstance(message, CandidateCase) and message.description == text


def nested(depth: int) -> dict[str, object]:
    """Facts of exactly ``depth`` levels (the facts object is level 1)."""
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return {"x": value}


def test_facts_of_the_deepest_allowed_nesting_pass_and_one_level_more_is_refused() -> None:
    source = Source(kind=SourceKind.CAMERA, id="cam-1")
    ok = CandidateCase.create(source=source, event_code="0505", facts=nested(MAX_FACTS_DEPTH))
    assert parse_message(ok.to_json()) == ok
    document = json.loads(ok.to_json())
    document["facts"] = nested(MAX_FACTS_DEPTH + 1)
    assert refusal(json.dumps(document).encode()) == "facts_too_deep"
    with pytest.raises(ValidationError, match="facts nest more than 8 levels"):
        CandidateCase.create(source=source, event_code="0505", facts=nested(MAX_FACTS_DEPTH + 1))


def test_facts_over_the_size_limit_are_refused_at_the_source_and_by_the_consumer() -> None:
    source = Source(kind=SourceKind.CAMERA, id="cam-1")
    fits = {"blob": "x" * (MAX_FACTS_BYTES - 20)}
    assert len(json.dumps(fits)) <= MAX_FACTS_BYTES
    CandidateCase.create(source=source, event_code="0505", facts=fits)
    with pytest.raises(ValidationError, match="the limit is 65536"):
        CandidateCase.create(
            source=source, event_code="0505", facts={"blob": "x" * MAX_FACTS_BYTES}
        )
    document = valid_document(2)
    document["facts"] = {"blob": "x" * 4_500_000}  # the 4.5 MB seen stored
    with pytest.raises(ContractError) as caught:
        parse_message(json.dumps(document).encode(), expect=CandidateCase)
    assert caught.value.code == "facts_too_large"
    assert "4500011 bytes as JSON; the limit is 65536" in caught.value.reason


def test_a_candidate_is_accepted_only_on_its_own_sources_topic() -> None:
    topics = Topics("city/v1")
    candidate = CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id="fuzzcam"), event_code="0505"
    )
    check_candidate_topic(candidate, "city/v1/candidates/camera/fuzzcam", topics)
    for topic in (
        "city/v1/candidates/call/fuzzcam",
        "city/v1/candidates/camera/other",
        "city/v1/candidates/camera/fuzzcam/extra",
        "citygw/v1/candidates/camera/fuzzcam",
    ):
        with pytest.raises(ContractError) as caught:
            check_candidate_topic(candidate, topic, topics)
        assert caught.value.code == "source_mismatch"
        assert "belongs on city/v1/candidates/camera/fuzzcam" in caught.value.reason


def test_a_failure_no_check_foresaw_is_still_a_contract_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("something nobody expected")

    monkeypatch.setattr(CandidateCase, "model_validate", broken)
    payload = json.dumps({**valid_document(3), "title": 7}).encode()  # off the fast path
    assert refusal(payload) == "unreadable"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_with_a_code_never_an_exception(payload: bytes) -> None:
    try:
        parse_message(payload, expect=CandidateCase)
    except ContractError as error:
        assert error.code and error.reason


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(valid_document(0))), JSON_VALUES)
def test_any_value_in_any_field_is_accepted_or_refused_with_a_code(
    field: str, value: object
) -> None:
    document = {**valid_document(0), field: value}
    try:
        payload = json.dumps(document).encode()
    except ValueError:
        return  # not representable as JSON
    try:
        message = parse_message(payload, expect=CandidateCase)
    except ContractError as error:
        assert error.code in {
            "invalid",
            "bad_version",
            "unknown_schema",
            "unsupported_version",
            "unexpected_schema",
            "facts_too_deep",
            "facts_too_large",
            "nul_character",
        }, error.code
    else:
        assert isinstance(message, CandidateCase)


def test_feedback_too_is_accepted_only_on_its_own_sources_topic() -> None:
    topics = Topics()
    feedback = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"), case_number="C1", satisfaction="satisfied"
    )
    check_feedback_topic(feedback, "citygw/v1/feedback/call/agi-1", topics)
    with pytest.raises(ContractError) as caught:
        check_feedback_topic(feedback, "citygw/v1/feedback/call/agi-2", topics)
    assert caught.value.code == "source_mismatch"
    assert caught.value.reason.startswith("a feedback from call/agi-1 belongs on")
