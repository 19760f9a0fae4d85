"""Where people look: /healthz and the metrics say, at request time, that a year deadlines
will soon reach has no known holiday schedule (counted provisionally)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.prometheus import PrometheusMetrics
from gateway.core.core_metrics import export_calendar
from tests.core.api_harness import Api, make_api

WARNING_2027 = "2027 年节假日安排未知：按法定节日暂算，未含调休；请升级 chinesecalendar 或在 core.calendar 中列出"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    harness = make_api(f"sqlite:///{tmp_path / 'core.sqlite3'}", tmp_path)
    yield harness
    harness.close()


def test_healthz_warns_of_a_provisional_year_once_today_plus_120_days_reaches_it(
    api: Api,
) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}  # Monday 5 Jan 2026
    # the same running core, months later: no restart needed for the warning
    api.clock.advance(days=334)  # Saturday 5 Dec 2026
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "warnings": [{"code": "calendar_provisional", "year": 2027, "detail": WARNING_2027}],
    }


def test_the_metrics_carry_the_warning_while_it_holds(api: Api) -> None:
    metrics = PrometheusMetrics()
    export_calendar(metrics, api.service.workflow.calendar, api.clock.now)

    def samples() -> list[dict[str, str]]:
        text = metrics.render()[0].decode()
        return [
            dict(s.labels)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "citygw_calendar_unknown_year" and s.value == 1
        ]

    def unknown_years() -> float:
        text = metrics.render()[0].decode()
        (count,) = [
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "citygw_calendar_unknown_years"
        ]
        return count

    assert samples() == []
    assert unknown_years() == 0  # exported while nothing is unknown: the alert's series
    api.clock.advance(days=334)
    assert samples() == [{"year": "2027", "mode": "provisional", "warning": WARNING_2027}]
    assert unknown_years() == 1
