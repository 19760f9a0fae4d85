"""An update of a fired rule, through the real core service (SQLite): recorded on the case
its first candidate opened, with its new snapshot, never as a second case."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway.clock import FakeClock
from gateway.contract import CandidateCase
from gateway.core.ports import CaseFilter
from gateway.core.workflow import Action
from gateway.video.analysis.candidate import build_candidate
from gateway.video.analysis.rules import Firing
from gateway.video.analysis.settings import CameraAnalysisConfig
from gateway.video.evidence import snapshot_evidence
from gateway.video.frame import Frame
from tests.core.helpers import MONDAY_10, make_service

from .test_rules import SIZE, Scene, car, parking

CAMERA = CameraAnalysisConfig.model_validate(parking())


def as_candidate(firing: Firing) -> CandidateCase:
    """What the pipeline's publisher makes of a firing: facts and an annotated snapshot."""
    image = np.full((SIZE[0], SIZE[1], 3), 90, np.uint8)
    frame = Frame("cam-1", int(firing.at), firing.wall, firing.at, image)
    drawn = [o.detection for o in firing.objects]
    evidence = [snapshot_evidence(image, drawn, name=f"cam-1-{frame.seq}.jpg")]
    return build_candidate(firing, frame, CAMERA, evidence, model="m", location={})


def test_updates_of_parked_cars_are_recorded_on_each_car_s_one_case_as_seen_again_marks(
    tmp_path: Path,
) -> None:
    scene = Scene(parking(min_dwell_s=60, update_every_s=60))
    scene.run(10 * 60, [car(100), car(300)])  # two cars, ten minutes
    assert len(scene.firsts) == 2 and len(scene.updates) >= 4
    service = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "evidence", FakeClock(MONDAY_10)
    )
    try:
        published = [as_candidate(f) for f in scene.firings]
        for candidate in published:  # one at a time, as they arrive over the minutes
            assert service.store_candidates([candidate]) == [True]
        assert service.store.count_cases() == 2
        for first in scene.firsts:
            mine = [c for c in published if c.facts["track_id"] == first.facts["track_id"]]
            cases = service.store.list_cases(CaseFilter())[0]
            (case,) = [c for c in cases if c.track_key == f"cam-1:{first.facts['track_id']}"]
            assert sorted(service.store.candidate_ids(case.id)) == sorted(c.id for c in mine)
            steps = [s.step.action for s in service.store.steps(case.id)]
            assert steps == [Action.CREATE] + [Action.REDETECTED] * (len(mine) - 1)
            # the first detection's snapshot is the case's evidence; each update is a mark
            # (when, which camera), not another snapshot (issue 18 §3)
            snapshots = {link.sha256 for link in service.store.evidence_of(case.id)}
            assert snapshots == {mine[0].evidence[0].sha256}
            marks = [s.step for s in service.store.steps(case.id)][1:]
            assert [m.facts["seen_at"] for m in marks] == [c.ts.isoformat() for c in mine[1:]]
            assert {m.facts["source"] for m in marks} == {"camera/cam-1"}
    finally:
        service.store.close()  # type: ignore[attr-defined]


def test_a_parked_car_that_left_shows_on_its_case_when_it_was_last_seen(tmp_path: Path) -> None:
    scene = Scene(parking(min_dwell_s=60, update_every_s=60, cooldown_s=120))
    scene.run(5 * 60, [car(100)])  # parked five minutes
    scene.run(200, [])  # gone; the cooldown runs out
    published = [as_candidate(f) for f in scene.firings]
    assert "ended_at" in published[-1].facts
    service = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path / "evidence", FakeClock(MONDAY_10)
    )
    try:
        for candidate in published[:-1]:
            service.store_candidates([candidate])
        (case,) = service.store.list_cases(CaseFilter())[0]
        assert "ended_at" not in case.facts  # still there
        assert service.store_candidates([published[-1]]) == [True]
        (case,) = service.store.list_cases(CaseFilter())[0]
        assert case.facts["ended_at"] == published[-1].facts["ended_at"]  # gone at
        assert case.facts["duration_s"] == published[-1].facts["duration_s"]
    finally:
        service.store.close()  # type: ignore[attr-defined]
