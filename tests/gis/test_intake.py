"""Location for every channel: a candidate's point gives its case the grid, district,
street and community; a point outside every grid gives no grid and a visible mark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely

from gateway.clock import FakeClock
from gateway.contract import Location, SourceKind
from gateway.core.dispatch import known_grids
from gateway.core.intake import case_id_for
from gateway.core.service import CaseService
from gateway.gis.features import GridFeature
from gateway.gis.index import GridIndex
from tests.core.helpers import MONDAY_10, candidate, core_config, make_service

HAIZHOU_STREET_1 = "320706001"


@pytest.fixture
def service(tmp_path: Path, demo_index: GridIndex) -> Iterator[CaseService]:
    base = core_config()
    config = core_config(
        dispatch=[{"event_prefix": "", "grid_prefix": HAIZHOU_STREET_1, "department": "roads"}],
        departments=[
            *(d.model_dump() for d in base.departments),
            {"id": "roads", "name": "海州街道城管中队"},
        ],
    )
    svc = make_service(
        f"sqlite:///{tmp_path / 'core.sqlite3'}",
        tmp_path / "evidence",
        FakeClock(MONDAY_10),
        config,
    )
    svc.grids = demo_index
    yield svc
    svc.store.close()  # type: ignore[attr-defined]


def _centre(grid: GridFeature) -> tuple[float, float]:
    point = shapely.centroid(grid.geometry)
    return point.x, point.y


def test_a_point_without_a_grid_gets_the_grid_it_lies_in(
    service: CaseService, demo_grids: list[GridFeature]
) -> None:
    grid = demo_grids[7]
    lon, lat = _centre(grid)
    report = candidate(1, location=Location(lat=lat, lon=lon, address="朝阳中路"))
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None
    assert (case.grid_code, case.district) == (grid.code, "海州区")
    assert (case.facts["street"], case.facts["community"]) == (grid.street, grid.community)
    assert case.facts["grid_from"] == "point"
    assert "outside_managed_area" not in case.facts
    assert service.workflow.table.department_for(case.event_code, case.grid_code) == "roads"


def test_a_point_outside_every_grid_gets_no_grid_and_a_mark(service: CaseService) -> None:
    report = candidate(2, location=Location(lat=34.60, lon=119.0))
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None and case.grid_code is None
    assert case.facts["outside_managed_area"] is True
    assert service.workflow.table.department_for(case.event_code, case.grid_code) != "roads"


def test_a_given_grid_is_kept_even_with_a_point(
    service: CaseService, demo_grids: list[GridFeature]
) -> None:
    lon, lat = _centre(demo_grids[0])
    report = candidate(3, location=Location(grid_code="32070690100101", lat=lat, lon=lon))
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None and case.grid_code == "32070690100101"
    assert "grid_from" not in case.facts


def test_every_channel_is_located_the_same_way(
    service: CaseService, demo_grids: list[GridFeature]
) -> None:
    grid = demo_grids[123]
    lon, lat = _centre(grid)
    reports = [
        candidate(10 + i, kind=kind, source_id=f"src-{i}", location=Location(lat=lat, lon=lon))
        for i, kind in enumerate((SourceKind.CALL, SourceKind.CAMERA, SourceKind.API))
    ]
    service.store_candidates(reports)
    codes = {service.store.get_case(case_id_for(r.id)).grid_code for r in reports}  # type: ignore[union-attr]
    assert codes == {grid.code}


def test_without_imported_grids_a_point_changes_nothing(service: CaseService) -> None:
    service.grids = None
    report = candidate(4, location=Location(lat=34.60, lon=119.18))
    service.store_candidates([report])
    case = service.store.get_case(case_id_for(report.id))
    assert case is not None and case.grid_code is None
    assert "outside_managed_area" not in case.facts


def test_imported_grids_are_known_grids(demo_grids: list[GridFeature]) -> None:
    grids = known_grids(core_config(), demo_grids)
    assert grids["32070600100101"].street == "海州街道"
    assert grids["32070600100101"].community == "鼓楼社区"
    assert "32070690100101" in grids  # the configured table stays


def test_the_core_locates_points_in_the_grids_imported_into_its_database(
    tmp_path: Path, demo_grids: list[GridFeature]
) -> None:
    from adapters.storage.database import migrate, open_engine
    from adapters.storage.gis_store import SqlBaseData
    from gateway.config import load_config
    from gateway.core.daemon import build_service
    from gateway.gis.validation import derive_areas

    url = f"sqlite:///{tmp_path / 'core.sqlite3'}"
    engine = open_engine(url)
    migrate(engine)
    SqlBaseData(engine).replace_grids(demo_grids, derive_areas(demo_grids), GridIndex([]).locate)
    engine.dispose()
    config_file = tmp_path / "citygw.yaml"
    config_file.write_text(f"state_dir: {tmp_path / 'state'}\ncore:\n  database_url: {url}\n")
    service, _auth = build_service(load_config(config_file))
    try:
        assert service.grids is not None and len(service.grids) == 400
        lon, lat = _centre(demo_grids[42])
        report = candidate(5, location=Location(lat=lat, lon=lon))
        service.store_candidates([report])
        case = service.store.get_case(case_id_for(report.id))
        assert case is not None and case.grid_code == demo_grids[42].code
    finally:
        service.store.close()  # type: ignore[attr-defined]
