"""The core service on a real database (SQLite and PostgreSQL): intake, transitions, events."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.clock import FakeClock
from gateway.contract import (
    CandidateCase,
    CaseEvent,
    CaseFeedback,
    Evidence,
    EvidenceRole,
    Location,
    Reporter,
    Source,
    SourceKind,
    parse_message,
)
from gateway.core.ports import CaseFilter, CaseNotFound, ConcurrentUpdate
from gateway.core.service import CaseService
from gateway.core.workflow import Action, Actor, CaseState, Command, Role, TransitionRefused
from tests.core.helpers import MONDAY_10, candidate, make_service

OPERATOR = Actor("olga", Role.OPERATOR)
DISPATCHER = Actor("dan", Role.DISPATCHER)
SANITATION = Actor("sam", Role.DEPARTMENT, "sanitation")
INSPECTOR = Actor("ivan", Role.INSPECTOR)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10)


@pytest.fixture
def service(db_url: str, tmp_path: Path, clock: FakeClock) -> CaseService:
    svc = make_service(db_url, tmp_path / "evidence", clock)
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def events(service: CaseService) -> list[CaseEvent]:
    return [
        parse_message(payload, expect=CaseEvent)  # type: ignore[misc]
        for _seq, _topic, payload in service.store.pending_events(10_000)
    ]


def test_each_candidate_id_is_stored_once_and_opens_one_case(service: CaseService) -> None:
    first = [candidate(i) for i in range(5)]
    assert service.store_candidates(first) == [True] * 5
    again = [candidate(2), candidate(5), candidate(5)]
    assert service.store_candidates(again) == [False, True, False]
    assert service.store.count_cases() == 6
    cases, total = service.store.list_cases(CaseFilter())
    assert total == 6 and all(c.state is CaseState.CANDIDATE for c in cases)
    # the centre's scheme: core issuer 00, local date 2026-01-05, serial of the day
    assert sorted(c.number for c in cases) == [f"00260105{n:05d}" for n in range(1, 7)]
    created = [e for e in events(service) if e.action == "create"]
    assert len(created) == 6 and all(e.case_number for e in created)


def test_a_call_keeps_the_case_number_read_to_the_caller(service: CaseService) -> None:
    call = candidate(
        1,
        kind=SourceKind.CALL,
        source_id="agi-1",
        case_number="T20260105-0007",
        reporter=Reporter(name="王", callback_number="13800000000"),
    )
    service.store_candidates([call])
    case = service.store.case_by_number("T20260105-0007")
    assert case is not None and case.callback_number == "13800000000"
    assert events(service)[0].case_number == "T20260105-0007"
    clash = candidate(2, kind=SourceKind.CALL, source_id="agi-1", case_number="T20260105-0007")
    service.store_candidates([clash])
    cases, _ = service.store.list_cases(CaseFilter())
    other = next(c for c in cases if c.number != "T20260105-0007")
    assert other.facts["caller_case_number"] == "T20260105-0007"


def _camera(n: int, track: int, **facts: object) -> object:
    return candidate(
        n,
        kind=SourceKind.CAMERA,
        source_id="cam-1",
        event_code="0505",
        location=Location(camera_id="cam-1", zone_id="gate"),
        facts={
            "track_id": track,
            "rule": "parking",
            "class": "car",
            "box": [1, 2, 30, 40],
            **facts,
        },
    )


def test_a_redetected_camera_track_never_opens_a_second_case(service: CaseService) -> None:
    assert service.store_candidates([_camera(1, 7), _camera(2, 7)]) == [True, True]
    service.store_candidates([_camera(3, 7)])
    assert service.store.count_cases() == 1
    case = service.store.list_cases(CaseFilter())[0][0]
    assert service.store.candidate_ids(case.id) == ["cand-000001", "cand-000002", "cand-000003"]
    assert case.grid_code == "32070690100101"  # cam-1 zone gate → its grid
    steps = [s.step.action for s in service.store.steps(case.id)]
    assert steps == [Action.CREATE, Action.REDETECTED, Action.REDETECTED]
    service.store_candidates([_camera(4, 8)])
    assert service.store.count_cases() == 2


def test_re_detections_take_no_case_number_so_the_days_serials_have_no_gaps(
    service: CaseService, clock: FakeClock
) -> None:
    service.store_candidates([_camera(1, 7), _camera(2, 7), candidate(3)])  # 2: track 7 again
    service.store_candidates([_camera(4, 7), _camera(5, 8), _camera(6, 8), _camera(7, 7)])
    numbers = sorted(c.number for c in service.store.list_cases(CaseFilter())[0])
    assert numbers == ["0026010500001", "0026010500002", "0026010500003"]
    clock.advance(hours=14)  # 00:00 of Tuesday 6 Jan in Shanghai: a new day, serials from 1
    service.store_candidates([candidate(8), _camera(9, 8)])
    cases = {c.title: c.number for c in service.store.list_cases(CaseFilter())[0]}
    assert cases["candidate 8"] == "0026010600001"
    assert service.store.count_cases() == 4


def test_cases_numbered_before_the_scheme_keep_their_numbers(service: CaseService) -> None:
    import dataclasses as dc

    from tests.core.helpers import case as a_case

    old = dc.replace(a_case(), id="old-1", number="C00000013")
    with service.store.transaction() as tx:
        tx.insert_case(old)
    service.store_candidates([candidate(1)])
    assert service.store.case_by_number("C00000013") is not None
    assert service.store.list_cases(CaseFilter(number="0026010500001"))[1] == 1


def test_a_re_detection_is_a_seen_again_mark_not_another_set_of_evidence(
    service: CaseService, clock: FakeClock
) -> None:
    first_jpeg, again_jpeg = b"\xff\xd8\xff" + b"a" * 50, b"\xff\xd8\xff" + b"b" * 50
    first = Evidence.from_bytes(first_jpeg, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT)
    again = Evidence.from_bytes(again_jpeg, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT)

    def seen(n: int, at: datetime, evidence: list[Evidence]) -> CandidateCase:
        return candidate(  # type: ignore[no-any-return]
            n,
            kind=SourceKind.CAMERA,
            source_id="cam-1",
            event_code="0505",
            ts=at,
            location=Location(camera_id="cam-1", zone_id="gate"),
            facts={"track_id": 7, "rule": "parking", "class": "car"},
            evidence=evidence,
        )

    service.store_candidates([seen(1, MONDAY_10, [first])])
    case = service.store.list_cases(CaseFilter())[0][0]
    clock.advance(minutes=2)
    seen_at = MONDAY_10 + timedelta(minutes=2)
    assert service.store_candidates([seen(2, seen_at, [first, again])]) == [True]
    # the case keeps the first detection's snapshot alone
    assert [e.sha256 for e in service.store.evidence_of(case.id)] == [first.sha256]
    assert not service.evidence.has(again.sha256)  # nor its bytes kept
    mark = service.store.steps(case.id)[-1].step
    assert mark.action is Action.REDETECTED and mark.facts["seen_at"] == seen_at.isoformat()
    assert mark.facts["source"] == "camera/cam-1" and mark.facts["evidence_not_kept"] == 2


def test_a_camera_update_grows_the_open_case_facts_and_its_version(service: CaseService) -> None:
    first = _camera(1, 7, dwell_s=600.0)
    service.store_candidates([first])
    case = service.store.list_cases(CaseFilter())[0][0]
    update = _camera(2, 7, dwell_s=900.0, update_of=first.id, update_seq=1)  # type: ignore[attr-defined]
    same_again = _camera(3, 7, dwell_s=900.0, update_of=first.id, update_seq=1)  # type: ignore[attr-defined]
    assert service.store_candidates([update, same_again]) == [True, True]
    now = service.store.get_case(case.id)
    assert now is not None and service.store.count_cases() == 1
    assert now.facts["dwell_s"] == 900.0 and now.facts["update_seq"] == 1
    assert now.version == case.version + 1  # the repeat changed nothing: no second bump
    updated = [s.step.facts.get("updated") for s in service.store.steps(case.id)]
    assert updated[1:] == [{"dwell_s": 900.0, "update_of": first.id, "update_seq": 1}, None]  # type: ignore[attr-defined]


def test_a_plain_redetection_or_an_update_of_a_final_case_keeps_its_facts(
    service: CaseService,
) -> None:
    first = _camera(1, 7, dwell_s=600.0)
    service.store_candidates([first, _camera(2, 7, dwell_s=999.0)])  # no update_of: log only
    case = service.store.list_cases(CaseFilter())[0][0]
    assert case.facts["dwell_s"] == 600.0
    service.transition(case.id, Command(Action.REJECT, opinion="误报"), OPERATOR)
    late = _camera(3, 7, dwell_s=1200.0, update_of=first.id, update_seq=1)  # type: ignore[attr-defined]
    service.store_candidates([late])
    rejected = service.store.get_case(case.id)
    assert rejected is not None and rejected.state is CaseState.REJECTED
    assert rejected.facts["dwell_s"] == 600.0


def test_a_nearby_candidate_of_the_same_code_is_proposed_as_a_merge(
    service: CaseService, clock: FakeClock
) -> None:
    here = Location(grid_code="32070690100101", lat=34.55, lon=119.15)
    near = Location(grid_code="32070690100199", lat=34.5502, lon=119.15)  # ≈ 22 m
    far = Location(grid_code="32070690100101", lat=34.56, lon=119.15)  # ≈ 1.1 km, same grid
    service.store_candidates([candidate(1, location=here)])
    clock.advance(minutes=5)
    service.store_candidates([candidate(2, location=near), candidate(3, location=far)])
    by_title = {c.title: c for c in service.store.list_cases(CaseFilter())[0]}
    first = by_title["candidate 1"]
    assert by_title["candidate 2"].proposed_merge_into == first.id
    assert by_title["candidate 3"].proposed_merge_into is None
    clock.advance(hours=5)  # outside the 4 h window
    service.store_candidates([candidate(4, location=here)])
    assert (
        service.store.list_cases(CaseFilter(number="0026010500004"))[0][0].proposed_merge_into
        is None
    )
    merged = service.transition(
        by_title["candidate 2"].id, Command(Action.MERGE, merge_into=first.id), OPERATOR
    )
    assert merged.case.state is CaseState.MERGED and merged.case.merged_into == first.id


def test_candidates_near_each_other_in_one_batch_propose_a_merge_into_the_first(
    service: CaseService,
) -> None:
    here = Location(grid_code="32070690100101", lat=34.55, lon=119.15)
    near = Location(grid_code="32070690100199", lat=34.5502, lon=119.15)  # ≈ 22 m
    other_code = candidate(3, location=near, event_code="0201")
    batch = [candidate(1, location=here), candidate(2, location=near), other_code]
    assert service.store_candidates(batch) == [True, True, True]
    by_title = {c.title: c for c in service.store.list_cases(CaseFilter())[0]}
    assert by_title["candidate 2"].proposed_merge_into == by_title["candidate 1"].id
    assert by_title["candidate 3"].proposed_merge_into is None  # another event code


def test_the_same_id_twice_in_one_batch_is_one_case_and_one_candidate(
    service: CaseService,
) -> None:
    assert service.store_candidates([candidate(1), candidate(1), candidate(2)]) == [
        True,
        False,
        True,
    ]
    assert service.store.count_cases() == 2
    assert service.store.candidate_count() == 2  # type: ignore[attr-defined]
    created = [e for e in events(service) if e.action == "create"]
    assert len(created) == 2


def test_a_merge_is_proposed_only_for_the_same_code_in_the_same_grid(
    service: CaseService, clock: FakeClock
) -> None:
    grid_a, grid_b = "32070690100101", "32070690100102"
    service.store_candidates(
        [
            candidate(1, event_code="0102", location=Location(grid_code=grid_a)),
            candidate(2, event_code="0201", location=Location(grid_code=grid_b)),
        ]
    )
    clock.advance(minutes=1)
    crossed = [  # each code's open case is in the other grid
        candidate(3, event_code="0102", location=Location(grid_code=grid_b)),
        candidate(4, event_code="0201", location=Location(grid_code=grid_a)),
        candidate(5, event_code="0201", location=Location(grid_code=grid_b)),
    ]
    service.store_candidates(crossed)
    by_title = {c.title: c for c in service.store.list_cases(CaseFilter())[0]}
    assert by_title["candidate 3"].proposed_merge_into is None
    assert by_title["candidate 4"].proposed_merge_into is None
    assert by_title["candidate 5"].proposed_merge_into == by_title["candidate 2"].id


def test_a_batch_redetection_of_an_older_track_lands_on_its_case(service: CaseService) -> None:
    service.store_candidates([_camera(1, 7)])
    assert service.store_candidates([_camera(2, 8), _camera(3, 7), _camera(4, 8)]) == [True] * 3
    cases = service.store.list_cases(CaseFilter())[0]
    assert len(cases) == 2
    by_track = {c.track_key: c for c in cases}
    assert service.store.candidate_ids(by_track["cam-1:7"].id) == ["cand-000001", "cand-000003"]
    assert service.store.candidate_ids(by_track["cam-1:8"].id) == ["cand-000002", "cand-000004"]


def test_stored_rows_read_back_as_written(service: CaseService, clock: FakeClock) -> None:
    shanghai = timezone(timedelta(hours=8))
    produced = datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=shanghai)
    clock.advance(seconds=1.5)
    service.store_candidates([candidate(1, ts=produced, facts={"note": "中文", "n": [1, 2]})])
    case = service.store.list_cases(CaseFilter())[0][0]
    assert case.created_at == clock.now() and case.created_at.tzinfo is not None
    assert case.facts == {"note": "中文", "n": [1, 2]} and case.pending is None
    assert service.store.list_cases(CaseFilter(created_from=clock.now()))[1] == 1
    assert service.store.list_cases(CaseFilter(created_to=clock.now()))[1] == 0
    (step,) = service.store.steps(case.id)
    assert step.step.at == clock.now() and step.step.attachments == ()


def test_facts_that_json_cannot_hold_are_stored_as_null(service: CaseService) -> None:
    facts = {"dwell_s": float("inf"), "score": float("nan"), "n": [1.5, float("-inf")]}
    service.store_candidates([candidate(1, facts=facts)])
    case = service.store.list_cases(CaseFilter())[0][0]
    assert case.facts == {"dwell_s": None, "score": None, "n": [1.5, None]}


def test_a_batch_s_empty_columns_read_back_as_the_orm_would_write_them(
    service: CaseService,
) -> None:
    """Columns no row of a batch has a value for are left out of its INSERT (the database
    writes NULL); a column some rows fill keeps NULL for the others; JSON columns hold
    JSON null; booleans come back as booleans."""
    import sqlalchemy as sa

    from adapters.storage import schema

    placed = Location(grid_code="32070690100101", lat=34.55, lon=119.15)
    service.store_candidates([candidate(1, urgent=True, location=placed), candidate(2)])
    cases = {c.title: c for c in service.store.list_cases(CaseFilter())[0]}
    first, second = cases["candidate 1"], cases["candidate 2"]
    assert (first.urgent, first.lat, first.lon) == (True, 34.55, 119.15)
    assert (second.urgent, second.lat, second.lon) == (False, None, None)
    for case in (first, second):
        assert case.department is None and case.deadline is None and case.pending is None
        assert case.closed_at is None and case.merged_into is None and case.version == 0
    c = schema.cases.c
    with service.store.engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.execute(
            sa.select(c.urgent, c.department.is_(None), sa.cast(c.pending, sa.Text)).order_by(
                c.title
            )
        ).all()
    assert [tuple(row) for row in rows] == [(True, True, "null"), (False, True, "null")]


def test_evidence_bytes_land_in_the_content_addressed_store(service: CaseService) -> None:
    jpeg = b"\xff\xd8\xff" + b"x" * 100
    snap = Evidence.from_bytes(
        jpeg, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT, name="s.jpg"
    )
    service.store_candidates([candidate(1, evidence=[snap])])
    case = service.store.list_cases(CaseFilter())[0][0]
    links = service.store.evidence_of(case.id)
    assert [(e.sha256, e.media_type, e.stored) for e in links] == [
        (snap.sha256, "image/jpeg", True)
    ]
    assert service.evidence.read(snap.sha256) == jpeg
    stored_body = json.dumps(service.store.steps(case.id)[0].step.facts)
    assert "data" not in stored_body


def _candidate_bodies(service: CaseService) -> dict[str, object]:
    import sqlalchemy as sa

    from adapters.storage import schema

    with service.store.engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.execute(sa.select(schema.candidates.c.id, schema.candidates.c.body))
        return {row.id: row.body for row in rows}


def test_a_candidate_is_kept_as_received_less_its_evidence_bytes(service: CaseService) -> None:
    plain = candidate(1, facts={"note": "中文"})
    sent = json.loads(plain.to_json())
    sent["added_in_1_7"] = {"kept": True}  # a newer producer's field: the record keeps it
    jpeg = b"\xff\xd8\xff" + b"y" * 100
    snap = Evidence.from_bytes(jpeg, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT)
    with_bytes = candidate(2, evidence=[snap])
    unsent = candidate(3)  # came another way (the API): no payload to keep
    payloads = {plain.id: json.dumps(sent).encode(), with_bytes.id: with_bytes.to_json()}
    parsed = [parse_message(payload, expect=CandidateCase) for payload in payloads.values()]
    service.store_candidates([*parsed, unsent], received=payloads)  # type: ignore[list-item]
    bodies = _candidate_bodies(service)
    assert bodies[plain.id] == sent
    kept = bodies[with_bytes.id]
    assert kept["evidence"][0]["sha256"] == snap.sha256  # type: ignore[index]
    assert "data" not in kept["evidence"][0]  # type: ignore[index]
    assert kept["title"] == with_bytes.title  # type: ignore[index]
    assert bodies[unsent.id] == json.loads(unsent.to_json())


def test_a_call_record_is_kept_as_received(service: CaseService) -> None:
    record = candidate(
        1, kind=SourceKind.CALL, source_id="ivr-1", facts={"call_purpose": "consultation"}
    )
    sent = {**json.loads(record.to_json()), "added_in_1_7": 1}
    payload = json.dumps(sent).encode()
    parsed = parse_message(payload, expect=CandidateCase)
    assert service.store_candidates([parsed], received={record.id: payload}) == [True]  # type: ignore[list-item]
    assert _candidate_bodies(service)[record.id] == sent
    assert service.store.count_cases() == 0  # a call record: kept, no case


def _through_dispatch(service: CaseService) -> str:
    service.store_candidates([candidate(1)])
    case = service.store.list_cases(CaseFilter())[0][0]
    service.transition(case.id, Command(Action.REGISTER), OPERATOR)
    service.transition(case.id, Command(Action.DISPATCH), DISPATCHER)
    return case.id


def test_a_case_goes_the_whole_way_and_every_step_is_logged_and_published(
    service: CaseService, clock: FakeClock
) -> None:
    case_id = _through_dispatch(service)
    assert service.store.get_case(case_id).department == "sanitation"  # type: ignore[union-attr]
    clock.advance(hours=1)
    service.transition(case_id, Command(Action.REPORT, opinion="cleaned"), SANITATION)
    service.transition(case_id, Command(Action.VERIFY_FAIL, opinion="still dirty"), INSPECTOR)
    service.transition(case_id, Command(Action.REPORT, opinion="cleaned again"), SANITATION)
    verified = service.transition(case_id, Command(Action.VERIFY_PASS), INSPECTOR)
    assert verified.case.state is CaseState.VERIFIED
    done = service.transition(case_id, Command(Action.CLOSE), OPERATOR)
    assert done.case.state is CaseState.CLOSED and done.case.rework_count == 1
    log = [s.step.action for s in service.store.steps(case_id)]
    assert log == [
        Action.CREATE,
        Action.REGISTER,
        Action.DISPATCH,
        Action.REPORT,
        Action.VERIFY_FAIL,
        Action.REPORT,
        Action.VERIFY_PASS,
        Action.CLOSE,
    ]
    published = [e for e in events(service) if e.case_id == case_id]
    assert [e.action for e in published] == [str(a) for a in log]
    assert published[2].deadline is not None and published[2].light == "green"
    assert len({e.id for e in published}) == len(published)


def test_a_refused_transition_changes_nothing(service: CaseService) -> None:
    case_id = _through_dispatch(service)
    before = service.store.steps(case_id)
    with pytest.raises(TransitionRefused):
        service.transition(case_id, Command(Action.REPORT), Actor("x", Role.DEPARTMENT, "traffic"))
    with pytest.raises(CaseNotFound):
        service.transition("nope", Command(Action.REPORT), SANITATION)
    assert service.store.steps(case_id) == before


def test_a_stale_version_is_a_concurrent_update(service: CaseService) -> None:
    case_id = _through_dispatch(service)
    case = service.store.get_case(case_id)
    assert case is not None
    with service.store.transaction() as tx, pytest.raises(ConcurrentUpdate):
        tx.update_case(case, expected_version=case.version - 1)


def test_rejecting_a_false_detection_tells_the_video_gateway_what_was_wrong(
    service: CaseService,
) -> None:
    service.store_candidates([_camera(1, 9)])
    case = service.store.list_cases(CaseFilter())[0][0]
    command = Command(Action.REJECT, opinion="误报", facts={"reason": "false_detection"})
    service.transition(case.id, command, OPERATOR)
    reject = next(e for e in events(service) if e.action == "reject")
    assert reject.facts["reason"] == "false_detection"
    assert reject.facts["camera_id"] == "cam-1" and reject.facts["zone_id"] == "gate"
    assert reject.facts["class"] == "car" and reject.facts["box"] == [1, 2, 30, 40]
    assert reject.facts["track_id"] == 9


def test_a_dissatisfied_survey_asks_for_a_reopen(service: CaseService) -> None:
    case_id = _through_dispatch(service)
    service.transition(case_id, Command(Action.REPORT), SANITATION)
    service.transition(case_id, Command(Action.VERIFY_PASS), INSPECTOR)
    service.transition(case_id, Command(Action.CLOSE), OPERATOR)
    number = service.store.get_case(case_id).number  # type: ignore[union-attr]
    feedback = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        case_number=number,
        satisfaction="dissatisfied",
    )
    assert service.feedback(feedback).case.state is CaseState.REOPEN_REQUESTED  # type: ignore[union-attr]
    unknown = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        case_number="NOPE",
        satisfaction="satisfied",
    )
    assert service.feedback(unknown) is None


def test_the_evaluation_step_carries_the_score_computed_from_the_history(
    service: CaseService, clock: FakeClock
) -> None:
    case_id = _through_dispatch(service)
    service.transition(case_id, Command(Action.REPORT), SANITATION)
    service.transition(case_id, Command(Action.VERIFY_FAIL, opinion="还有垃圾"), INSPECTOR)
    service.transition(case_id, Command(Action.REPORT), SANITATION)
    service.transition(case_id, Command(Action.VERIFY_PASS), INSPECTOR)
    service.transition(case_id, Command(Action.CLOSE), OPERATOR)
    done = service.transition(case_id, Command(Action.EVALUATE, opinion="及时"), OPERATOR)
    score = done.step.facts["case_score"]
    assert (score["on_time"], score["rework"], score["satisfaction"]) == (True, 1, None)
    assert score["parts"] == {"on_time": 1.0, "rework": 0.5, "delays": 1.0}
    assert score["score"] == round(100 * (0.4 + 0.125 + 0.1) / 0.75, 1)
    logged = service.store.steps(case_id)[-1].step
    assert logged.facts["case_score"] == score and logged.opinion == "及时"


def test_a_survey_answer_that_evaluates_the_case_scores_it_with_the_answer(
    service: CaseService,
) -> None:
    case_id = _through_dispatch(service)
    service.transition(case_id, Command(Action.REPORT), SANITATION)
    service.transition(case_id, Command(Action.VERIFY_PASS), INSPECTOR)
    service.transition(case_id, Command(Action.CLOSE), OPERATOR)
    number = service.store.get_case(case_id).number  # type: ignore[union-attr]
    answer = CaseFeedback.create(
        source=Source(kind=SourceKind.CALL, id="agi-1"),
        case_number=number,
        satisfaction="satisfied",
    )
    result = service.feedback(answer)
    assert result is not None and result.case.state is CaseState.EVALUATED
    assert result.step.facts["case_score"]["parts"]["satisfaction"] == 1.0
    assert result.step.facts["case_score"]["grade"] == "excellent"


def test_an_overdue_case_is_published_once(service: CaseService, clock: FakeClock) -> None:
    case_id = _through_dispatch(service)
    assert service.publish_overdue() == []
    clock.advance(days=7)
    assert [c.id for c in service.publish_overdue()] == [case_id]
    assert service.publish_overdue() == []
    overdue = [e for e in events(service) if e.action == "overdue"]
    assert len(overdue) == 1 and overdue[0].light == "red"
    clock.advance(timedelta(minutes=1).total_seconds())


def test_a_listed_case_changed_elsewhere_is_listed_as_it_now_is(
    service: CaseService, db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    service.store_candidates([candidate(1), candidate(2)])
    before = {c.title: c for c in service.store.list_cases(CaseFilter())[0]}
    other = make_service(db_url, tmp_path / "evidence-2", clock)  # another process's store
    try:
        other.transition(before["candidate 1"].id, Command(Action.REGISTER), OPERATOR)
    finally:
        other.store.close()  # type: ignore[attr-defined]
    after = {c.title: c for c in service.store.list_cases(CaseFilter())[0]}
    assert after["candidate 1"].state is CaseState.REGISTERED and after["candidate 1"].version == 1
    assert after["candidate 2"] == before["candidate 2"]
    registered, total = service.store.list_cases(CaseFilter(states=("registered",)))
    assert total == 1 and [c.title for c in registered] == ["candidate 1"]


def test_sqlite_writers_of_one_process_take_turns_and_give_up_after_the_timeout(
    tmp_path: Path,
) -> None:
    from adapters.storage.case_store import SqlCaseStore
    from adapters.storage.database import migrate, open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    migrate(engine)
    store = SqlCaseStore(engine, write_timeout_s=0.3)
    holding, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def first_writer() -> None:
        with store.transaction() as tx:
            tx.add_event("t/1", b"first")
            holding.set()
            release.wait(5)

    def second_writer() -> None:
        try:
            with store.transaction() as tx:
                tx.add_event("t/2", b"second")
            outcome.append("wrote")
        except TimeoutError:
            outcome.append("timed out")

    first = threading.Thread(target=first_writer)
    first.start()
    assert holding.wait(5)
    second_writer()  # the first still holds the turn: refused after 0.3 s, not blocked
    release.set()
    first.join(5)
    second_writer()  # its turn now
    assert outcome == ["timed out", "wrote"]
    assert [p for _s, _t, p in store.pending_events(10)] == [b"first", b"second"]
    store.close()
