"""Open311 service definitions: the attributes a service asks for, and reading the answers.

The table is ``config/core/open311-services.yaml`` (service code -> attributes, the
spec's fields); `load_service_attributes` reads and checks it at start-up.
`definition_out` is the body of ``GET services/{code}``; `read_answers` turns the
``attribute[code]`` fields of a POST into the values kept on the case, or the list of
what is wrong with them. Pure: no I/O but the loader's one read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

DEFAULT_SERVICE_TABLE = (
    Path(__file__).resolve().parents[2] / "config" / "core" / "open311-services.yaml"
)
STRING_MAX = 200
TEXT_MAX = 4000


class Datatype(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    TEXT = "text"
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"


_LISTS = frozenset({Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST})


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=50, description="what a client posts")
    name: str = Field(min_length=1, max_length=100, description="what a person reads")
    urgent: bool = Field(default=False, description="choosing it marks the case urgent")


class Attribute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Za-z0-9_]{1,50}$", description="attribute[<code>]")
    datatype: Datatype
    variable: bool = Field(default=True, description="false: a notice, never answered")
    required: bool = False
    description: str = Field(min_length=1, max_length=500)
    datatype_description: str | None = Field(default=None, max_length=500)
    values: tuple[AttributeValue, ...] = ()

    @model_validator(mode="after")
    def _values_fit_the_datatype(self) -> Attribute:
        if (self.datatype in _LISTS) != bool(self.values):
            raise ValueError("values belong to (and are needed by) the list datatypes only")
        if len({v.key for v in self.values}) != len(self.values):
            raise ValueError("value keys repeat")
        if not self.variable and self.required:
            raise ValueError("a notice (variable: false) cannot be required")
        return self


class _Table(RootModel[dict[str, tuple[Attribute, ...]]]):
    @model_validator(mode="after")
    def _codes_are_event_codes_with_distinct_attributes(self) -> _Table:
        for code, attributes in self.root.items():
            if len(code) != 4 or not code.isdigit():
                raise ValueError(f"{code!r} is not a 4-digit CJ/T 214 event code")
            if len({a.code for a in attributes}) != len(attributes):
                raise ValueError(f"{code}: attribute codes repeat")
        return self


def load_service_attributes(
    path: Path | None = None, event_codes: Sequence[str] | None = None
) -> dict[str, tuple[Attribute, ...]]:
    """``{"0505": (Attribute(code="plate", ...), ...), ...}``; raises ValueError saying
    what is wrong (with the file's name), also for a service not in ``event_codes``."""
    path = path or DEFAULT_SERVICE_TABLE
    try:
        table = _Table.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (ValidationError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    unknown = sorted(set(table.root) - set(event_codes)) if event_codes is not None else []
    if unknown:
        raise ValueError(f"{path}: services not in the event table: {', '.join(unknown)}")
    return {code: attributes for code, attributes in table.root.items() if attributes}


def definition_out(service_code: str, attributes: Sequence[Attribute]) -> dict[str, Any]:
    """The body of ``GET services/{code}``: attributes in order (1, 2, ...)."""
    return {
        "service_code": service_code,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": str(a.datatype),
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": order,
                "description": a.description,
                **(
                    {"values": [{"key": v.key, "name": v.name} for v in a.values]}
                    if a.values
                    else {}
                ),
            }
            for order, a in enumerate(attributes, start=1)
        ],
    }


@dataclass(frozen=True)
class Answers:
    values: dict[str, Any]  # attribute code -> str | float | list[str] (datetime as text)
    urgent: bool  # a chosen value marks the case urgent


def read_answers(
    attributes: Sequence[Attribute], posted: Mapping[str, Sequence[str]]
) -> tuple[Answers, list[str]]:
    """The answers in ``posted`` (``attribute[code]`` / ``attribute[code][]`` -> values),
    and each problem with them (a missing required one, a value of the wrong type or not
    among the choices, an attribute the service does not have)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    urgent = False
    known = {a.code: a for a in attributes if a.variable}
    for code in sorted(set(posted) - set(known)):
        problems.append(f"attribute[{code}] is not an attribute of this service")
    for attribute in known.values():
        given = [v.strip() for v in posted.get(attribute.code, ()) if v.strip()]
        field = f"attribute[{attribute.code}]"
        if not given:
            if attribute.required:
                problems.append(f"{field} is required")
            continue
        if attribute.datatype is not Datatype.MULTIVALUELIST and len(given) > 1:
            problems.append(f"{field} takes one value")
            continue
        value, problem = _checked(attribute, given)
        if problem:
            problems.append(f"{field} {problem}")
            continue
        values[attribute.code] = value
        chosen = set(given) if attribute.datatype in _LISTS else set()
        urgent = urgent or any(v.urgent for v in attribute.values if v.key in chosen)
    return Answers(values, urgent), problems


def _checked(attribute: Attribute, given: list[str]) -> tuple[Any, str | None]:
    """The value to keep, or why it cannot be kept."""
    first = given[0]
    match attribute.datatype:
        case Datatype.STRING | Datatype.TEXT:
            limit = STRING_MAX if attribute.datatype is Datatype.STRING else TEXT_MAX
            return (first, None) if len(first) <= limit else (None, f"is over {limit} characters")
        case Datatype.NUMBER:
            try:
                number = float(first)
            except ValueError:
                return None, "is not a number"
            return (number, None) if math.isfinite(number) else (None, "is not a finite number")
        case Datatype.DATETIME:
            try:
                moment = datetime.fromisoformat(first)
            except ValueError:
                return None, "is not a W3C date and time (e.g. 2026-01-05T08:30:00+08:00)"
            if moment.tzinfo is None:
                return None, "needs a time zone (e.g. 2026-01-05T08:30:00+08:00)"
            return moment.isoformat(), None
        case _:
            keys = {v.key for v in attribute.values}
            wrong = [v for v in given if v not in keys]
            if wrong:
                return None, f"has no choice {wrong[0][:50]!r} (choices: {', '.join(sorted(keys))})"
            if attribute.datatype is Datatype.SINGLEVALUELIST:
                return first, None
            return list(dict.fromkeys(given)), None
