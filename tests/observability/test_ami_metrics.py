"""`citygw ami`'s /metrics on its own listener (``metrics.ami_port``), with Asterisk's
Manager not listening and its Master.csv not there (yet)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.mqtt.broker import free_port
from gateway.config import Config
from tests.core.mqtt_helpers import wait_until
from tests.observability.scrape import exported_names, referenced_by, scrape, value
from tests.telephony.ami_rig import RunningAmi, callbacks_settings


def test_the_ami_side_says_callbacks_are_paused_and_the_csv_missing_on_its_own_port(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    master = tmp_path / "cdr-csv" / "Master.csv"
    config = make_config(
        telephony={
            "callbacks": callbacks_settings(free_port(), cdr_csv={"path": str(master), "poll_s": 1})
        },
        metrics={"ami_port": free_port()},
    )
    ami = RunningAmi(config)
    try:
        url = f"http://127.0.0.1:{config.metrics.ami_port}/metrics"
        wait_until(lambda: ami.health["cdr_csv"]["state"] == "missing", 10, "the csv looked at")
        samples = scrape(url)
        assert value(samples, "citygw_ami_ready") == 0
        assert value(samples, "citygw_callbacks_paused") == 1
        assert value(samples, "citygw_cdr_csv_state", state="missing") == 1
        assert value(samples, "citygw_cdr_csv_rows_total", outcome="recorded") == 0
        assert value(samples, "citygw_ivr_candidates_late_total") == 0
        assert value(samples, "citygw_mqtt_connected", daemon="ami") == 1
        assert "citygw_agi_calls_active" not in samples
        # the queue figures need Asterisk's answer: test_ami_daemon checks them, and with
        # them every name the dashboard and the alerts use
        assert not any(name.startswith("citygw_queue_") for name in samples)
        missing = {
            n
            for n in referenced_by("ami") - exported_names(samples)
            if not n.startswith("citygw_queue_")
        }
        assert not missing, f"the dashboard or alerts name metrics citygw ami lacks: {missing}"
    finally:
        ami.close()
    assert ami.error is None
