"""The metrics section: listeners off unless a port is set, ports apart, a token long enough."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config


def test_by_default_only_the_cores_http_server_serves_metrics_with_no_token() -> None:
    metrics = parse_config("").metrics
    assert metrics.core_on_api and metrics.host == "127.0.0.1"
    assert (metrics.core_port, metrics.video_port, metrics.agi_port, metrics.token) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("section", "complaint"),
    [
        ("video_port: 9842\n  agi_port: 9842", "must differ"),
        ("video_port: 70000", "video_port"),
        ("token: short", "at least 16 characters"),
        ("tokens: x", "metrics.tokens"),
    ],
)
def test_a_bad_metrics_section_is_refused_with_its_reason(section: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_config(f"metrics:\n  {section}\n")


def test_the_token_comes_from_the_environment_and_is_not_printed() -> None:
    config = parse_config(
        "metrics:\n  token: ${CITYGW_METRICS_TOKEN}\n",
        env={"CITYGW_METRICS_TOKEN": "s3cret-metrics-token"},
    )
    assert config.metrics.token is not None
    assert config.metrics.token.get_secret_value() == "s3cret-metrics-token"
    assert "s3cret" not in repr(config.metrics)
