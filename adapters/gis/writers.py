"""Writing base data files (the demo data): GeoJSON FeatureCollections and CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def write_geojson(path: Path, features: Iterable[Mapping[str, Any]]) -> int:
    """A FeatureCollection of ``features``; returns how many were written."""
    items = list(features)
    document = {"type": "FeatureCollection", "features": items}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return len(items)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> int:
    """UTF-8 CSV with a header of ``columns``; missing values empty."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
