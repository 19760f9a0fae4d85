"""Bytes → a typed message, or `ContractError` with a stable code; never anything else."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import (
    ValidationError,
)

from gateway.contract.envelope import (
    _VERSION,
    CONTRACT_MAJOR,
    MAX_PAYLOAD_BYTES,
    ContractError,
    _Message,
)
from gateway.contract.messages import MESSAGE_TYPES, Message

# --------------------------------------------------------------------------- parsing


#: error types of our own validators that name a message's fault better than ``invalid``
_OWN_CODES = frozenset({"facts_too_deep", "facts_too_large"})

#: a NUL written as JSON writes it (``\u0000``), not a backslash written before ``u0000``:
#: an even run of backslashes (escaped ones) ahead of the escape, or none
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
#: a surrogate escape without its pair (``\ud800`` alone): valid JSON, but no UTF-8 form,
#: so no store and no consumer could write it back out; a pair (an escaped emoji) is fine
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*(?:"
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def _format_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in item["loc"]) or "(message)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def parse_message(
    payload: bytes,
    *,
    expect: type[_Message] | tuple[type[_Message], ...] | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
) -> Message:
    """Parse one MQTT payload into a contract message, or raise `ContractError`.

    Codes: ``too_large``, ``bad_encoding``, ``bad_json``, ``too_deep``, ``not_an_object``,
    ``unknown_schema``, ``bad_version``, ``unsupported_version``, ``unexpected_schema``,
    ``invalid``, ``facts_too_deep``, ``facts_too_large``, ``nul_character``; ``unreadable`` for any other
    failure. Nothing else is raised: whatever a payload holds, it is refused alone, with
    a code, and never stops the consumer reading the next one.
    """
    try:
        return _parse_message(payload, expect, max_bytes)
    except ContractError:
        raise
    except RecursionError as exc:
        raise ContractError("too_deep", "the JSON nests deeper than a message may") from exc
    except Exception as exc:  # one message's fault, whatever it was: refuse it alone
        raise ContractError(
            "unreadable", f"the payload could not be read ({type(exc).__name__}: {exc})"[:1000]
        ) from exc


def _parse_message(
    payload: bytes,
    expect: type[_Message] | tuple[type[_Message], ...] | None,
    max_bytes: int,
) -> Message:
    if len(payload) > max_bytes:
        raise ContractError(
            "too_large", f"payload is {len(payload)} bytes; the limit is {max_bytes}"
        )
    # a backslash first (one memchr, ~40x faster than looking for the escape in a payload
    # of megabytes without any, such as inline evidence or a fuzzer's blob)
    if b"\\" in payload and b"\\u0000" in payload and _NUL_ESCAPE.search(payload):
        # valid JSON and valid UTF-8, but no text column stores it (PostgreSQL refuses the
        # whole batch): refused here, with its code, like any other poison
        raise ContractError("nul_character", "a string holds a NUL character (U+0000)")
    if (
        b"\\" in payload
        and (b"\\ud" in payload or b"\\uD" in payload)
        and _LONE_SURROGATE.search(payload)
    ):
        raise ContractError(
            "bad_encoding", "a string holds a lone surrogate escape, which has no UTF-8 form"
        )
    if isinstance(expect, type):
        # fast path for the one expected schema: pydantic parses the JSON itself (about
        # half the cost of json.loads + validate); anything it refuses takes the careful
        # path below, which says exactly what is wrong
        try:
            message = expect.model_validate_json(payload)
        except ValidationError:
            pass
        else:
            major = _VERSION.fullmatch(message.version)
            if major is not None and int(major.group(1)) == CONTRACT_MAJOR:
                return message  # type: ignore[return-value]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("bad_encoding", f"payload is not UTF-8: {exc}") from exc
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise ContractError("too_deep", "the JSON nests deeper than a message may") from exc
    except ValueError as exc:  # not JSON, or a number of more digits than int() reads
        raise ContractError("bad_json", f"payload is not JSON: {exc}"[:1000]) from exc
    return parse_document(document, expect=expect)


def parse_document(
    document: Any, *, expect: type[_Message] | tuple[type[_Message], ...] | None = None
) -> Message:
    """Like `parse_message` for an already decoded JSON value."""
    if not isinstance(document, Mapping):
        raise ContractError(
            "not_an_object", f"a message is a JSON object, got {type(document).__name__}"
        )
    schema = document.get("schema")
    if not isinstance(schema, str) or schema not in MESSAGE_TYPES:
        raise ContractError(
            "unknown_schema", f"unknown schema {repr(schema)[:100]}; known: {sorted(MESSAGE_TYPES)}"
        )
    version = document.get("version")
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ContractError(
            "bad_version", f"version must be 'MAJOR.MINOR', got {repr(version)[:100]}"
        )
    if int(match.group(1)) != CONTRACT_MAJOR:
        raise ContractError(
            "unsupported_version",
            f"{schema} major version {match.group(1)} is not supported (this consumer speaks {CONTRACT_MAJOR}.x)",
        )
    message_type = MESSAGE_TYPES[schema]
    if expect is not None:
        expected = expect if isinstance(expect, tuple) else (expect,)
        if message_type not in expected:
            names = ", ".join(t.SCHEMA for t in expected)
            raise ContractError(
                "unexpected_schema", f"{schema} is not accepted here (expected {names})"
            )
    try:
        return message_type.model_validate(document)  # type: ignore[return-value]
    except ValidationError as exc:
        types = {item["type"] for item in exc.errors(include_url=False)}
        code = types.pop() if len(types) == 1 and types <= _OWN_CODES else "invalid"
        raise ContractError(code, _format_validation_error(exc)) from exc
