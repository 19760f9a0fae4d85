"""A fuzz corpus of poison candidate messages, the same on every run (seeded).

Each item is a payload on a candidate topic and the codes a consumer may refuse it with.
What was seen with a fuzzer: deeply nested JSON, huge numbers, megabytes of facts, wrong
types, payloads on another source's topic; plus random bytes, invalid UTF-8 and valid
candidates cut short, generated from a fixed seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.contract import MAX_FACTS_BYTES, MAX_FACTS_DEPTH

SEED = 20261204
ANY_CODE = frozenset(
    {
        "too_large",
        "bad_encoding",
        "bad_json",
        "too_deep",
        "not_an_object",
        "unknown_schema",
        "bad_version",
        "unsupported_version",
        "unexpected_schema",
        "invalid",
        "facts_too_deep",
        "facts_too_large",
        "nul_character",
        "source_mismatch",
        "unreadable",
    }
)


@dataclass(frozen=True)
class Poison:
    name: str
    kind: str  # the topic's source kind and id: candidates/<kind>/<source_id>
    source_id: str
    payload: bytes
    codes: frozenset[str]

    def topic(self, root: str = "citygw/v1") -> str:
        return f"{root}/candidates/{self.kind}/{self.source_id}"


def valid_document(n: int, kind: str = "camera", source_id: str = "fuzzcam") -> dict[str, Any]:
    """A valid candidate from ``kind``/``source_id`` as a JSON document."""
    return {
        "schema": "citygw.candidate_case",
        "version": "1.1",
        "id": f"fuzz-{n:08d}",
        "ts": datetime(2026, 1, 5, 9, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "source": {"kind": kind, "id": source_id},
        "event_code": "0505",
        "title": f"fuzz {n}",
        "location": {"grid_code": "32070690100101"},
        "facts": {"track_id": n},
    }


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


def _with(n: int, **fields: Any) -> bytes:
    return _json({**valid_document(n), **fields})


def pathological(start: int = 0) -> list[Poison]:
    """The hand-made ones; ids from ``start`` on, so none repeats another item's."""
    n = iter(range(start, start + 1000))
    cam: tuple[str, str] = ("camera", "fuzzcam")
    items: list[tuple[str, tuple[str, str], bytes, set[str]]] = [
        ("array nested 10 000 deep", cam, _nested(10_000), {"too_deep"}),
        ("object nested 10 000 deep", cam, b'{"a":' * 10_000 + b"1" + b"}" * 10_000, {"too_deep"}),
        (
            "facts nested 10 000 deep",
            cam,
            _json(valid_document(next(n)))[:-1] + b',"facts":{"x":' + _nested(10_000) + b"}}",
            {"too_deep"},
        ),
        (
            f"facts nested {MAX_FACTS_DEPTH + 1} levels",
            cam,
            _with(next(n), facts={"x": json.loads(_nested(MAX_FACTS_DEPTH))}),
            {"facts_too_deep"},
        ),
        ("a 5 000-digit version", cam, _with(next(n), version="9" * 5000 + ".1"), {"bad_version"}),
        ("major version 2", cam, _with(next(n), version="2.0"), {"unsupported_version"}),
        (
            "a 5 000-digit number in facts",
            cam,
            _json(valid_document(next(n)))[:-1] + b',"facts":{"x":' + b"7" * 5000 + b"}}",
            {"bad_json"},
        ),
        ("latitude 1e308", cam, _with(next(n), location={"lat": 1e308}), {"invalid"}),
        (
            "urgent 1e999",
            cam,
            _json(valid_document(next(n)))[:-1] + b',"urgent":1e999}',
            {"invalid"},
        ),
        (
            "a 5 MB description",
            cam,
            _with(next(n), description="描" * (5 * 1024 * 1024 // 3)),
            {"invalid"},
        ),
        (
            "5 MB of facts",
            cam,
            _with(next(n), facts={"blob": "x" * (5 * 1024 * 1024)}),
            {"facts_too_large"},
        ),
        (
            "facts just over the limit",
            cam,
            _with(next(n), facts={"blob": "y" * MAX_FACTS_BYTES}),
            {"facts_too_large"},
        ),
        ("9 MB, over the payload limit", cam, b" " * (9 * 1024 * 1024), {"too_large"}),
        ("invalid UTF-8 in a string", cam, _with(next(n))[:-2] + b'\xc3\x28"}', {"bad_encoding"}),
        (
            "a UTF-16 payload",
            cam,
            json.dumps(valid_document(next(n))).encode("utf-16"),
            {"bad_encoding"},
        ),
        ("empty", cam, b"", {"bad_json"}),
        ("a JSON array", cam, b"[1, 2, 3]", {"not_an_object"}),
        ("a JSON string", cam, b'"candidate"', {"not_an_object"}),
        ("null", cam, b"null", {"not_an_object"}),
        ("no schema", cam, b'{"id": "x"}', {"unknown_schema"}),
        (
            "a case event on the candidate topic",
            cam,
            _with(next(n), schema="citygw.case_event"),
            {"unexpected_schema"},
        ),
        ("event code as a number", cam, _with(next(n), event_code=505), {"invalid"}),
        ("location as a list", cam, _with(next(n), location=[1, 2]), {"invalid"}),
        ("evidence as a string", cam, _with(next(n), evidence="jpeg"), {"invalid"}),
        ("timestamp without a zone", cam, _with(next(n), ts="2026-01-05T09:00:00"), {"invalid"}),
        ("source as a string", cam, _with(next(n), source="camera/fuzzcam"), {"invalid"}),
        ("facts as a list", cam, _with(next(n), facts=[1, 2]), {"invalid"}),
        ("id too short", cam, _with(next(n), id="x"), {"invalid"}),
        (
            "NaN latitude",
            cam,
            _json(valid_document(next(n)))[:-1] + b',"location":{"lat":NaN}}',
            {"invalid"},
        ),
    ]
    # a payload speaks for itself: the call, api and inspector topics take no camera's words
    for kind, source_id in (("call", "agi-1"), ("api", "web"), ("inspector", "insp-1")):
        items.append(
            (
                f"a camera's candidate on {kind}/{source_id}",
                (kind, source_id),
                _with(next(n)),
                {"source_mismatch"},
            )
        )
    items.append(
        ("another camera's candidate", ("camera", "gate-3"), _with(next(n)), {"source_mismatch"})
    )
    return [
        Poison(name, kind, source_id, payload, frozenset(codes))
        for name, (kind, source_id), payload, codes in items
    ]


def generated(count: int, seed: int = SEED, start: int = 10_000) -> list[Poison]:
    """``count`` generated ones: random bytes, random invalid UTF-8, valid candidates cut
    short, and valid candidates with one field of a wrong type."""
    rng = random.Random(seed)
    wrong_values: list[tuple[str, Any]] = [
        ("event_code", 505),
        ("event_code", None),
        ("event_code", "55"),
        ("title", {"a": 1}),
        ("location", "here"),
        ("urgent", "yes please"),
        ("evidence", [{"sha256": "zz"}]),
        ("reporter", ["x"]),
        ("id", 12345678),
        ("ts", "yesterday"),
        ("source", {"kind": "satellite", "id": "s1"}),
        ("version", 1.1),
        ("case_number", "9" * 40),
    ]
    items: list[Poison] = []
    for i in range(count):
        n = start + i
        kind = i % 4
        if kind == 0:  # random bytes of random length
            payload = rng.randbytes(rng.randint(1, 512))
            codes = ANY_CODE
        elif kind == 1:  # a valid candidate with bytes that are not UTF-8 in its title
            document = valid_document(n)
            raw = _json(document)
            cut = raw.index(b'"title": "') + len(b'"title": "')
            payload = raw[:cut] + bytes([rng.randint(0x80, 0xBF)]) + raw[cut:]
            codes = frozenset({"bad_encoding"})
        elif kind == 2:  # a valid candidate cut short
            raw = _json(valid_document(n))
            payload = raw[: rng.randint(0, len(raw) - 2)]
            codes = frozenset({"bad_json", "bad_encoding"})
        else:  # one field of a wrong type
            field, value = wrong_values[rng.randrange(len(wrong_values))]
            payload = _json({**valid_document(n), field: value})
            codes = frozenset({"invalid", "bad_version"} if field == "version" else {"invalid"})
        items.append(Poison(f"generated {i} ({kind})", "camera", "fuzzcam", payload, codes))
    return items


def corpus(count: int = 300) -> list[Poison]:
    return pathological() + generated(count)
