"""Cases and steps as rows of the core's tables, and back (the one place that maps them).

`case_to_row` gives a case's column values (less ``overdue_notified``, which only the
store keeps); `case_from_row` and `step_from_row` read rows back into the workflow's
types. `CASE_BY_ID` is the statement both the store's reads and its transactions use.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from adapters.storage import schema as t
from gateway.core.ports import StoredStep
from gateway.core.workflow import Action, Case, CaseState, Pending, Role, Step


def case_to_row(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "state": str(case.state),
        "event_code": case.event_code,
        "created_at": case.created_at,
        "source_kind": case.source_kind,
        "title": case.title,
        "description": case.description,
        "grid_code": case.grid_code,
        "district": case.district,
        "address": case.address,
        "camera_id": case.camera_id,
        "zone_id": case.zone_id,
        "lat": case.lat,
        "lon": case.lon,
        "urgent": case.urgent,
        "track_key": case.track_key,
        "reporter_name": case.reporter_name,
        "callback_number": case.callback_number,
        "department": case.department,
        "dispatched_at": case.dispatched_at,
        "deadline": case.deadline,
        "suspended_at": case.suspended_at,
        "suspended_minutes": case.suspended_minutes,
        "rework_count": case.rework_count,
        "pending": case.pending.to_dict() if case.pending else None,
        "proposed_merge_into": case.proposed_merge_into,
        "merged_into": case.merged_into,
        "closed_at": case.closed_at,
        "satisfaction": case.satisfaction,
        "facts": case.facts,
        "version": case.version,
        "centre": case.centre,
        "community": case.community,
    }


def case_from_row(row: RowMapping) -> Case:
    values = {key: row[key] for key in _CASE_FIELDS}
    values["state"] = CaseState(values["state"])
    values["pending"] = Pending.from_dict(row["pending"]) if row["pending"] else None
    values["facts"] = dict(row["facts"] or {})
    return Case(**values)


_CASE_FIELDS = [column.name for column in t.cases.columns if column.name != "overdue_notified"]


def step_from_row(row: RowMapping) -> StoredStep:
    return StoredStep(
        seq=row["seq"],
        step=Step(
            case_id=row["case_id"],
            at=row["at"],
            action=Action(row["action"]),
            from_state=CaseState(row["from_state"]) if row["from_state"] else None,
            to_state=CaseState(row["to_state"]),
            actor=row["actor"],
            role=Role(row["role"]),
            department=row["department"],
            opinion=row["opinion"],
            attachments=tuple(row["attachments"] or ()),
            facts=dict(row["facts"] or {}),
        ),
    )


#: a case's row by id (built once: executing the same statement object reuses its compiled form)
CASE_BY_ID = sa.select(t.cases).where(t.cases.c.id == sa.bindparam("id"))
