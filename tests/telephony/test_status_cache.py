"""The case-state cache the status query reads, fed by the core's case events."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.contract import CaseEvent, Source, SourceKind
from gateway.telephony.status_cache import CaseStatusCache

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def event(number: str | None, state: str, at: datetime = T0) -> CaseEvent:
    return CaseEvent.create(
        source=Source(kind=SourceKind.CORE, id="core"),
        ts=at,
        case_id=f"case-{number}",
        case_number=number,
        action="x",
        to_state=state,
    )


def test_the_latest_state_of_a_case_is_kept() -> None:
    cache = CaseStatusCache()
    assert cache.update(event("1001", "registered"))
    assert cache.update(event("1001", "processing", T0 + timedelta(minutes=5)))
    status = cache.get("1001")
    assert status is not None and status.state == "processing" and status.case_id == "case-1001"


def test_an_older_event_arriving_late_does_not_win() -> None:
    cache = CaseStatusCache()
    cache.update(event("1001", "closed", T0 + timedelta(hours=1)))
    assert not cache.update(event("1001", "processing"))
    assert cache.get("1001").state == "closed"  # type: ignore[union-attr]


def test_an_event_without_a_number_is_ignored() -> None:
    cache = CaseStatusCache()
    assert not cache.update(event(None, "registered"))
    assert len(cache) == 0


def test_a_bad_payload_is_counted_and_dropped() -> None:
    cache = CaseStatusCache()
    assert not cache.update_from_payload(b"{not json")
    assert cache.update_from_payload(event("1001", "registered").to_json())
    assert cache.rejected == 1 and cache.get("1001") is not None


def test_the_cache_is_bounded_oldest_first() -> None:
    cache = CaseStatusCache(max_entries=100)
    for n in range(150):
        cache.update(event(f"{n:04d}", "registered"))
    assert len(cache) == 100
    assert cache.get("0049") is None and cache.get("0050") is not None


def test_a_wait_ends_as_soon_as_the_event_arrives() -> None:
    cache = CaseStatusCache()
    timer = threading.Timer(0.05, cache.update, args=(event("1001", "registered"),))
    timer.start()
    status = cache.wait_for("1001", timeout_s=30)
    timer.join()
    assert status is not None and status.state == "registered"
    assert cache.wait_for("404", timeout_s=0.05) is None


def test_a_restarted_gateway_still_knows_the_cases_it_heard_of(tmp_path: Path) -> None:
    cache = CaseStatusCache(path=tmp_path / "status.sqlite3")
    cache.update(event("1001", "registered"))
    cache.update(event("1001", "closed", T0 + timedelta(hours=1)))
    cache.update(event("1002", "processing"))
    cache.close()
    again = CaseStatusCache(path=tmp_path / "status.sqlite3")
    assert again.get("1001").state == "closed"  # type: ignore[union-attr]
    assert again.get("1001").at == T0 + timedelta(hours=1)  # type: ignore[union-attr]
    assert len(again) == 2
    assert not again.update(event("1001", "processing"))  # older than what was kept
    again.close()
