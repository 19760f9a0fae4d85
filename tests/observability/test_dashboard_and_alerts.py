"""docs/grafana/citygw.json and docs/prometheus/citygw-alerts.yml are well formed, and every
metric they name belongs to a daemon whose test scrapes it after a real run
(test_core_metrics, test_video_metrics, test_agi_metrics, test_ami_metrics and
test_ami_daemon)."""

from __future__ import annotations

import json

import yaml

from tests.observability.scrape import ALERTS, DASHBOARD, OWNERS, referenced_metrics


def test_every_metric_the_dashboard_and_alerts_name_has_a_daemon_whose_test_checks_it() -> None:
    names = referenced_metrics()
    orphans = sorted(n for n in names if not any(n.startswith(p) for p in OWNERS))
    assert not orphans, f"no daemon test covers {orphans}: add its prefix to OWNERS"
    for daemon in ("core", "video", "agi", "ami"):  # each section of the dashboard has its metrics
        assert any(
            daemon in owners for p, owners in OWNERS.items() for n in names if n.startswith(p)
        )


def test_the_dashboard_is_a_grafana_dashboard_with_a_query_in_every_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "citygw" and dashboard["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "instance"} <= variables
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert "citygw_" in target["expr"], (panel["title"], target["expr"])
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_the_alerts_cover_the_obvious_alarms_each_with_a_severity_and_a_summary() -> None:
    rules = [
        r for g in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for r in g["rules"]
    ]
    names = {r["alert"] for r in rules}
    assert {
        "CitygwOutboxBackingUp",
        "CitygwCameraOffline",
        "CitygwIntakeStalled",
        "CitygwDeadLettersRising",
        "CitygwAmiDisconnected",
        "CitygwQueueLongWait",
    } <= names
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
