"""Poison messages: whatever a payload holds, the contract refuses it alone with a stable
code and raises nothing else; facts are bounded; a source speaks only on its own topic."""

from __future__ import annotations

import json

import pydantic_core
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
from gateway.contract.envelope import _shape
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


def test_megabytes_of_facts_are_refused_as_too_large_without_being_written_out_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Their text alone passes the limit: refused before the ~7 ms of serialising them (on
    the fast path and again on the careful one), with the code and a size that is exact
    here (ASCII text, no escapes)."""
    written: list[int] = []
    to_json = pydantic_core.to_json

    def measured(value: object, **options: object) -> bytes:
        out = to_json(value, **options)  # type: ignore[arg-type]
        written.append(len(out))
        return out

    monkeypatch.setattr(pydantic_core, "to_json", measured)
    document = {**valid_document(4), "facts": {"blob": "x" * (5 * 1024 * 1024)}}
    with pytest.raises(ContractError) as caught:
        parse_message(json.dumps(document).encode(), expect=CandidateCase)
    assert caught.value.code == "facts_too_large"
    assert "at least 5242891 bytes as JSON; the limit is 65536" in caught.value.reason
    assert max(written, default=0) < MAX_FACTS_BYTES  # nothing of that size was written
    # the same facts in a message built here: refused by the same check
    with pytest.raises(ValidationError, match="at least 5242891 bytes as JSON"):
        CandidateCase.create(
            source=Source(kind=SourceKind.CAMERA, id="cam-1"),
            event_code="0505",
            facts=document["facts"],
        )


def test_facts_whose_text_is_under_the_limit_but_json_over_it_are_still_refused() -> None:
    """Numbers count one byte in the bound: 20 000 of ``1.25`` are ~100 KB as JSON."""
    document = {**valid_document(5), "facts": {"scores": [1.25] * 20_000}}
    with pytest.raises(ContractError) as caught:
        parse_message(json.dumps(document).encode(), expect=CandidateCase)
    assert caught.value.code == "facts_too_large"
    assert "facts are 100012 bytes as JSON; the limit is 65536" in caught.value.reason


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_the_size_bound_of_facts_never_exceeds_their_json(facts: dict[str, object]) -> None:
    """The bound that refuses facts unwritten is a lower bound of what they write: facts
    within the limit are never refused by it."""
    try:
        size = len(pydantic_core.to_json(facts, inf_nan_mode="null"))
    except pydantic_core.PydanticSerializationError:
        return  # a lone surrogate: not writable at all
    _too_deep, at_least = _shape(facts, 100)
    assert at_least <= size
    if all(isinstance(k, str) and k.isascii() and k.isalnum() for k in facts) and all(
        isinstance(v, str) and v.isascii() and v.isalnum() for v in facts.values()
    ):
        assert at_least == size  # ASCII text without escapes: exact


def test_a_backslash_escape_next_to_megabytes_without_one_still_finds_a_nul() -> None:
    """The NUL check looks for a backslash first (one memchr), then for the escape."""
    blob = "x" * (2 * 1024 * 1024)
    clean = {**valid_document(6), "facts": {"note": "ok"}, "blob": blob}
    message = parse_message(json.dumps(clean).encode(), expect=CandidateCase)
    assert isinstance(message, CandidateCase)
    for nul in ({"facts": {"note": "\x00"}}, {"title": 'a"b\u0000'}):
        document = {**clean, **nul}
        payload = json.dumps(document).encode()
        assert b"\\u0000" in payload
        assert refusal(payload) == "nul_character", document
