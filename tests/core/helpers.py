"""Builders shared by the core's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
        {"event_prefix": "0505", "grid_prefix": "110101", "department": "traffic"},
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
        {"camera_id": "cam-1", "zone_id": "gate", "grid_code": "11010100100101"},
        {"camera_id": "cam-1", "grid_code": "11010100100102"},
    ],
}


def core_config(**overrides: Any) -> CoreConfig:
    return CoreConfig.model_validate({**CORE_SETTINGS, **overrides})


def workflow(config: CoreConfig | None = None) -> Workflow:
    config = config or core_config()
    return Workflow(
        ResponsibilityTable.from_config(config),
        WorkingCalendar.from_config(config.calendar),
        config.time_limits,
    )


def case(state: CaseState = CaseState.CANDIDATE, **fields: Any) -> Case:
    values: dict[str, Any] = {
        "id": "case-1",
        "number": "C00000001",
        "state": state,
        "event_code": "0505",
        "created_at": MONDAY_10,
        "grid_code": "11010100100101",
    }
    values.update(fields)
    return Case(**values)
