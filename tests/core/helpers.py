"""Builders shared by the core's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.holidays import official_days
from gateway.core.calendar import WorkingCalendar
from gateway.core.dispatch import ResponsibilityTable
from gateway.core.settings import CoreConfig
from gateway.core.workflow import Case, CaseState, Workflow

# Monday 2026-01-05 10:00 in Shanghai
MONDAY_10 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

CORE_SETTINGS: dict[str, Any] = {
    "departments": [
        {"id": "city-management", "name": "城管执法"},
        {"id": "sanitation", "name": "环卫"},
        {"id": "traffic", "name": "交警"},
    ],
    "default_department": "city-management",
    "dispatch": [
        {"event_prefix": "01", "grid_prefix": "", "department": "sanitation"},
        {"event_prefix": "0505", "grid_prefix": "320706901", "department": "traffic"},
    ],
    "time_limits": [
        {"event_prefix": "", "condition": "normal", "amount": 2, "unit": "work_days"},
        {"event_prefix": "", "condition": "urgent", "amount": 2, "unit": "work_hours"},
        {"event_prefix": "0505", "condition": "normal", "amount": 4, "unit": "work_hours"},
    ],
    "calendar": {
        "timezone": "Asia/Shanghai",
        "periods": ["09:00-12:00", "13:00-18:00"],
        "holidays": ["2026-01-01", "2026-02-17"],
        "extra_workdays": ["2026-02-14"],
    },
    "camera_grids": [
        {"camera_id": "cam-1", "zone_id": "gate", "grid_code": "32070690100101"},
        {"camera_id": "cam-1", "grid_code": "32070690100102"},
    ],
}


def core_config(**overrides: Any) -> CoreConfig:
    return CoreConfig.model_validate({**CORE_SETTINGS, **overrides})


def workflow(config: CoreConfig | None = None) -> Workflow:
    config = config or core_config()
    return Workflow(
        ResponsibilityTable.from_config(config),
        WorkingCalendar.from_config(
            config.calendar, official_days(config.calendar.official_holidays)
        ),
        config.time_limits,
    )


def case(state: CaseState = CaseState.CANDIDATE, **fields: Any) -> Case:
    values: dict[str, Any] = {
        "id": "case-1",
        "number": "C00000001",
        "state": state,
        "event_code": "0505",
        "created_at": MONDAY_10,
        "grid_code": "32070690100101",
    }
    values.update(fields)
    return Case(**values)


# --------------------------------------------------------------------------- service


def make_service(db_url: str, evidence_dir: Any, clock: Any, config: CoreConfig | None = None):  # type: ignore[no-untyped-def]
    from adapters.storage.case_store import SqlCaseStore
    from adapters.storage.evidence_store import EvidenceStore
    from gateway.contract import Source, SourceKind, Topics
    from gateway.core.service import CaseService

    config = config or core_config()
    store = SqlCaseStore.open(db_url)
    return CaseService(
        store,
        EvidenceStore(evidence_dir),
        workflow(config),
        clock,
        Topics(),
        Source(kind=SourceKind.CORE, id="core-test"),
        duplicates=config.duplicates,
        number_prefix=config.case_number_prefix,
        case_score=config.case_score,
    )


def candidate(n: int = 0, **fields: Any):  # type: ignore[no-untyped-def]
    from gateway.contract import CandidateCase, Location, Source, SourceKind

    kind = fields.pop("kind", SourceKind.INSPECTOR)
    source_id = fields.pop("source_id", "insp-1")
    values: dict[str, Any] = {
        "id": f"cand-{n:06d}",
        "ts": MONDAY_10,
        "event_code": "0102",
        "title": f"candidate {n}",
        "location": Location(grid_code=f"320706901001{n % 100:02d}"),
    }
    values.update(fields)
    return CandidateCase.create(source=Source(kind=kind, id=source_id), **values)
