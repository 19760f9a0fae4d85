"""The foundation's candidate inbox keeps each candidate's body as it was received."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.storage.candidate_inbox import SqliteCandidateInbox
from gateway.contract import CandidateCase, Location, Source, SourceKind


def _candidate(n: int) -> CandidateCase:
    return CandidateCase.create(
        source=Source(kind=SourceKind.INSPECTOR, id="insp-1"),
        id=f"cand-{n:06d}",
        event_code="0102",
        title=f"candidate {n}",
        location=Location(grid_code="32070690100101"),
    )


def _bodies(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT id, body FROM candidate"))


def test_the_received_payload_is_kept_byte_for_byte_else_the_parsed_candidate(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.sqlite3"
    inbox = SqliteCandidateInbox(path)
    first, second = _candidate(1), _candidate(2)
    # a newer producer's field this version does not know: kept, because it was received
    sent = first.to_json()[:-1] + b', "x_future": 1}'
    assert inbox.store_candidates([first, second], {first.id: sent}) == [True, True]
    assert _bodies(path) == {first.id: sent.decode(), second.id: second.to_json().decode()}
