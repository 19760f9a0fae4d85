"""Reading a real /metrics answer, and the metric names docs/ (dashboard, alerts) use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "docs" / "grafana" / "citygw.json"
ALERTS = REPO / "docs" / "prometheus" / "citygw-alerts.yml"

#: which daemon exports a metric, by name prefix (every edge daemon exports the outbox's)
OWNERS: dict[str, tuple[str, ...]] = {
    "citygw_outbox_": ("core", "video", "agi", "ami"),
    "citygw_mqtt_": ("core", "video", "agi", "ami"),
    "citygw_candidates_": ("core",),
    "citygw_cases": ("core",),
    "citygw_intake_": ("core",),
    "citygw_calendar_": ("core",),
    "citygw_dead_letters_": ("core",),
    "citygw_http_": ("core",),
    "citygw_camera_": ("video",),
    "citygw_video_": ("video",),
    "citygw_detector_": ("video",),
    "citygw_agi_": ("agi",),
    "citygw_callback": ("ami",),
    "citygw_cdr_csv_": ("ami",),
    "citygw_queue_": ("ami",),
    "citygw_ami_": ("ami",),
    "citygw_agent_": ("ami",),
    "citygw_unhandled_calls_": ("ami",),
    "citygw_ivr_candidates_": ("ami",),
}
_SUFFIXES = ("_bucket", "_count", "_sum")
_NAME = re.compile(r"\b(citygw_[a-z0-9_]+)")


def scrape(url: str, token: str | None = None) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of one real scrape."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=10)
    response.raise_for_status()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    """The one sample of ``name`` whose labels include ``labels``."""
    found = [v for have, v in samples.get(name, []) if labels.items() <= have.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in {samples.get(name)}"
    return found[0]


def base_name(sample_name: str) -> str:
    for suffix in _SUFFIXES:
        if sample_name.endswith(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if isinstance(query, str):
            found.append(query)
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    found += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return found


def referenced_metrics() -> set[str]:
    """Every citygw metric (base name) the dashboard and the alert rules name."""
    names = {base_name(n) for expr in _expressions() for n in _NAME.findall(expr)}
    assert names, "the dashboard and the alerts name no citygw metric"
    return names


def referenced_by(daemon: str) -> set[str]:
    return {
        name
        for name in referenced_metrics()
        for prefix, owners in OWNERS.items()
        if name.startswith(prefix) and daemon in owners
    }


def exported_names(samples: dict[str, list[tuple[dict[str, str], float]]]) -> set[str]:
    return {base_name(name) for name in samples}
