"""GIS test helpers: the demo area as raw features, built grids and their index."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.gis.demo_data import DemoData, generate
from gateway.gis.features import GridFeature, RawFeature
from gateway.gis.index import GridIndex
from gateway.gis.validation import build_grids


def raws(features: list[dict[str, Any]]) -> list[RawFeature]:
    return [RawFeature(i + 1, f["properties"], f["geometry"]) for i, f in enumerate(features)]


@pytest.fixture(scope="session")
def demo() -> DemoData:
    return generate()


@pytest.fixture(scope="session")
def demo_grids(demo: DemoData) -> list[GridFeature]:
    built = build_grids(raws(demo.grids))
    assert built.problems == []
    return built.records


@pytest.fixture(scope="session")
def demo_index(demo_grids: list[GridFeature]) -> GridIndex:
    return GridIndex(demo_grids)


# the core's database harness: db_url runs a test on SQLite and on PostgreSQL (PostGIS)
from tests.core.conftest import db_url, postgres  # noqa: E402, F401
