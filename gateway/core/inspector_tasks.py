"""An inspector's (监督员) on-site tasks: 核实 and 核查, kept on the case they belong to.

- 核实 (``confirm``): a citizen's or the hotline's report, still 信息收集, that the centre
  wants checked on the spot before 立案: is the problem really there? The centre asks
  (``request_confirmation``); the inspector answers ``confirm_pass`` (属实: the case
  carries the proposal to register it) or ``confirm_fail`` (不属实: the proposal to
  reject it). The operator still decides (立案 / 不予立案): the answer is a proposal.
- 核查 (``verify``): a case the department reported done (处理反馈): was it fixed?
  Opened by the ``report`` step itself; answered ``verify_pass`` / ``verify_fail``.

A task is the case's fact ``task``: ``{"kind", "assignee", "assigned_by", "opened_at",
"due"}``, set by the step that opens it and removed by the step that answers it (or by
any step that takes the case out of the state it was asked in). The steps keep the
history: who was asked, by whom, when, and whether the answer came by ``due``.

Who gets it: the inspector whose grids (the users' grid assignment) cover the case's
grid most closely (`InspectorRoster.assignee_for`); nobody when no inspector covers it
(the centre then assigns by hand: ``assign_task``), which is also how the centre moves
a task to someone else. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class TaskKind(StrEnum):
    CONFIRM = "confirm"  # 核实: is the reported problem really there?
    VERIFY = "verify"  # 核查: was it fixed?


#: how long an inspector has for each kind of task, on the clock (自然时)
DEFAULT_TASK_MINUTES: Mapping[TaskKind, float] = {TaskKind.CONFIRM: 60.0, TaskKind.VERIFY: 240.0}

_KINDS = frozenset(k.value for k in TaskKind)

#: ``assigned_by`` of a task given out by the grid table (otherwise the user who assigned it)
BY_GRID = "grid"


def new_task(
    kind: TaskKind,
    now: datetime,
    assignee: str | None,
    assigned_by: str | None,
    minutes: Mapping[TaskKind, float] = DEFAULT_TASK_MINUTES,
) -> dict[str, Any]:
    """The ``task`` fact of a task opened at ``now``."""
    return {
        "kind": str(kind),
        "assignee": assignee,
        "assigned_by": assigned_by if assignee else None,
        "opened_at": now.isoformat(),
        "due": (now + timedelta(minutes=minutes[kind])).isoformat(),
    }


def task_of(facts: Mapping[str, Any]) -> dict[str, Any] | None:
    """The open task in a case's facts, or None."""
    task = facts.get("task")
    return task if isinstance(task, dict) and task.get("kind") in _KINDS else None


def answered_on_time(task: Mapping[str, Any], now: datetime) -> bool | None:
    """Whether an answer at ``now`` came by the task's ``due`` (None: no due time)."""
    due = task.get("due")
    return now <= datetime.fromisoformat(due) if isinstance(due, str) else None


@dataclass(frozen=True)
class InspectorRoster:
    """The active inspectors and their grids (unit grid codes or code prefixes)."""

    inspectors: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_users(cls, users: Iterable[Mapping[str, Any]]) -> InspectorRoster:
        return cls(
            tuple(
                sorted(
                    (str(u["name"]), tuple(u.get("grids") or ()))
                    for u in users
                    if u.get("role") == "inspector" and u.get("active", True)
                )
            )
        )

    def names(self) -> set[str]:
        return {name for name, _grids in self.inspectors}

    def assignee_for(self, grid_code: str | None) -> str | None:
        """The inspector whose grid (or prefix) covers ``grid_code`` most closely; of equals,
        the first by name (a stable choice). None: no grid, or nobody covers it."""
        if not grid_code:
            return None
        best: tuple[int, str] | None = None
        for name, grids in self.inspectors:
            closest = max((len(g) for g in grids if grid_code.startswith(g)), default=0)
            if closest and (best is None or closest > best[0]):
                best = (closest, name)
        return best[1] if best else None


# ---------------------------------------------------------------------- the workflow's rules
# (`gateway.core.workflow` calls these with its action names: this module imports nothing
# of it)

_ANSWER_KINDS = {
    "confirm_pass": TaskKind.CONFIRM,
    "confirm_fail": TaskKind.CONFIRM,
    "verify_pass": TaskKind.VERIFY,
    "verify_fail": TaskKind.VERIFY,
}


def task_refusal(
    facts: Mapping[str, Any], state: str, action: str, actor: str
) -> tuple[str, str] | None:
    """(code, reason) when ``action`` may not happen for the case's task, else None."""
    task = task_of(facts)
    if action == "request_confirmation" and task is not None:
        return "task_open", "a 核实 of this case is already waiting"
    if action == "assign_task" and task is None and state == "candidate":
        return "no_task", "no 核实 was asked for this case"
    kind = _ANSWER_KINDS.get(action)
    if kind is None:
        return None
    if kind is TaskKind.CONFIRM and (task is None or task["kind"] != kind):
        return "no_task", "no 核实 was asked for this case"
    # a 核查 of a case reported before tasks were kept has none: any inspector of its grid
    if task is not None and task.get("assignee") not in (None, actor):
        return "not_your_task", f"the task is {task['assignee']}'s"
    return None


def task_step(
    facts: Mapping[str, Any],
    action: str,
    now: datetime,
    assignee: str | None,
    actor: str,
    minutes: Mapping[TaskKind, float],
    *,
    by_grid: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the case's new facts, the step's facts) of a step that opens, assigns or answers
    a 核实 (``report``, ``request_confirmation``, ``assign_task``, ``confirm_*``); raises
    ValueError("assignee_required") for an assignment naming nobody. Removing the task once
    answered is the workflow's (with any step that leaves the state)."""
    if action in ("report", "request_confirmation"):
        kind = TaskKind.VERIFY if action == "report" else TaskKind.CONFIRM
        task = new_task(kind, now, assignee, BY_GRID if by_grid else actor, minutes)
        return {**facts, "task": task}, {"task": task}
    if action == "assign_task":
        if not assignee:
            raise ValueError("assignee_required")
        earlier = task_of(facts)
        task = {**(earlier or new_task(TaskKind.VERIFY, now, None, None, minutes))}
        task.update(assignee=assignee, assigned_by=actor)  # the due time stays
        previous = earlier.get("assignee") if earlier else None
        return {**facts, "task": task}, {"task": task, "previous_assignee": previous}
    confirmed = action == "confirm_pass"
    on_time = answer_facts(facts, now).get("task_on_time")
    confirmation = {
        "verdict": "confirmed" if confirmed else "not_found",
        "by": actor,
        "at": now.isoformat(),
        "on_time": on_time,
    }
    proposal = "register" if confirmed else "reject"
    new_facts = {**facts, "confirmation": confirmation, "proposal": proposal}
    return new_facts, {"task_on_time": on_time, "proposal": proposal}


def answer_facts(facts: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An answer's step facts: whether it came by the task's due time (when it had one)."""
    task = task_of(facts)
    on_time = answered_on_time(task, now) if task is not None else None
    return {} if on_time is None else {"task_on_time": on_time}
