"""The CJ/T 214 event table (code → name, and its class and other names), read from a CSV
at start-up."""

from __future__ import annotations

import csv
from pathlib import Path

DEFAULT_EVENT_TABLE = Path(__file__).resolve().parents[2] / "config" / "core" / "cjt214-events.csv"


def load_event_names(path: Path | None = None) -> dict[str, str]:
    """``{"0505": "机动车乱停放", ...}``; raises ValueError naming the bad line."""
    path = path or DEFAULT_EVENT_TABLE
    names: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            code, name = (row.get("code") or "").strip(), (row.get("name") or "").strip()
            if len(code) != 4 or not code.isdigit() or not name:
                raise ValueError(f"{path}:{line}: an event row needs a 4-digit code and a name")
            names[code] = name
    return names


def load_event_groups(path: Path | None = None) -> dict[str, tuple[str, str]]:
    """``{"0505": ("街面秩序", ""), "0104": ("市容环境", "道路保洁"), ...}``: each event's
    class name and its other name: ``alt_name`` where both sources agree on the code
    (``agreement`` both; elsewhere ``alt_name`` is another event the other source files
    under that code), else empty. Rows without a class name are left out."""
    groups: dict[str, tuple[str, str]] = {}
    with (path or DEFAULT_EVENT_TABLE).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            code = (row.get("code") or "").strip()
            class_name = (row.get("class_name") or "").strip()
            if code and class_name:
                same = (row.get("agreement") or "").strip() == "both"
                groups[code] = (class_name, (row.get("alt_name") or "").strip() if same else "")
    return groups
