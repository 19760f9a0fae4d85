"""The telephony gateway's /metrics after real calls through the fake Asterisk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.asterisk.fake_asterisk import Press, place_call
from adapters.mqtt.broker import free_port
from gateway.config import Config
from tests.observability.scrape import exported_names, referenced_by, scrape, value
from tests.telephony.conftest import placeholder_prompts
from tests.telephony.test_agi_end_to_end import REPORT, RunningAgi


@pytest.fixture
def agi(make_config: Callable[..., Config], tmp_path: Path) -> Iterator[RunningAgi]:
    config = make_config(
        telephony={
            "listen_port": 0,
            "sounds_dir": str(tmp_path / "sounds"),
            "recordings_dir": str(tmp_path / "spool"),
            "status_wait_s": 3,
        },
        metrics={"agi_port": free_port()},
    )
    placeholder_prompts(config.telephony)
    running = RunningAgi(config)
    yield running
    running.close()


def test_the_telephony_metrics_count_calls_by_outcome_and_time_agi_commands(
    agi: RunningAgi,
) -> None:
    url = f"http://127.0.0.1:{agi.config.metrics.agi_port}/metrics"
    assert "citygw_agi_calls_total" not in scrape(url)  # no call yet: no outcome either
    place_call(REPORT, agi.options(uniqueid="1795878200.1"), timeout_s=20)
    place_call([Press("0")], agi.options(uniqueid="1795878200.4"), timeout_s=20)
    place_call(
        [Press("1")], agi.options(uniqueid="1795878200.5", hangup_at_command=3), timeout_s=20
    )
    assert agi.runtime is not None and agi.runtime.server.wait_idle(10)

    samples = scrape(url)
    assert value(samples, "citygw_agi_calls_total", outcome="completed") == 1
    assert value(samples, "citygw_agi_calls_total", outcome="transferred") == 1
    assert value(samples, "citygw_agi_calls_total", outcome="hangup") == 1
    assert value(samples, "citygw_agi_calls_active") == 0
    assert value(samples, "citygw_agi_calls_refused_total") == 0
    commands = {
        labels["command"]: count for labels, count in samples["citygw_agi_command_seconds_count"]
    }
    assert commands.get("STREAM FILE", 0) >= 3 and commands.get("RECORD FILE", 0) == 2, commands
    assert value(samples, "citygw_agi_turnaround_seconds_count") >= sum(commands.values()) - 3
    assert value(samples, "citygw_outbox_published_total", daemon="agi") >= 0
    assert value(samples, "citygw_mqtt_connected", daemon="agi") == 1
    assert "citygw_callbacks_paused" not in samples  # the AMI side's, `citygw ami`
    assert httpx.get(url.replace("/metrics", "/other"), timeout=10).status_code == 404

    missing = referenced_by("agi") - exported_names(samples)
    assert not missing, (
        f"the dashboard or alerts name metrics the agi gateway does not export: {missing}"
    )
