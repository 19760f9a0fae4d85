"""`citygw ami` catching up from Master.csv: the real daemon, a real Mosquitto, AMI
unreachable (nothing to see there), `citygw agi` taking an IVR call from the fake
Asterisk's FastAGI caller, and Master.csv rows written from the Cdr events a real
Asterisk 22 sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from adapters.asterisk.fake_asterisk import place_call
from adapters.mqtt.broker import free_port
from gateway.clock import FakeClock
from gateway.config import Config
from gateway.contract import CandidateCase, parse_message
from tests.core.mqtt_helpers import wait_until
from tests.foundation.test_mqtt_delivery import Collector
from tests.telephony.ami_rig import RunningAmi
from tests.telephony.cdr_rows import ZONE, append, csv_row, hotline_caller, recorded_cdrs
from tests.telephony.conftest import placeholder_prompts
from tests.telephony.test_agi_end_to_end import REPORT, RunningAgi

NOW = datetime(2026, 12, 4, 14, 20, tzinfo=ZONE)  # minutes after the recorded calls


class Daemon(RunningAmi):
    """`run_ami` in a thread, on a clock that stands just after the recorded calls."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, clock=FakeClock(NOW))

    def cdr_csv(self) -> dict[str, object]:
        health = self.health["cdr_csv"]
        assert isinstance(health, dict)
        return health

    def close(self) -> None:
        super().close()
        assert self.error is None


def from_cdr(core: Collector) -> list[CandidateCase]:
    out = []
    for message in list(core.messages):
        candidate = parse_message(message.payload, expect=CandidateCase)
        if isinstance(candidate, CandidateCase) and candidate.facts.get("recorded_from") == "cdr":
            out.append(candidate)
    return out


def test_calls_while_the_daemon_was_down_are_recorded_once_each_after_a_restart(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    master = tmp_path / "asterisk" / "cdr-csv" / "Master.csv"
    append(master, *(csv_row(f) for f in recorded_cdrs("queue-call")))  # before the first start
    config = make_config(
        telephony={
            "listen_port": 0,
            "sounds_dir": str(tmp_path / "sounds"),
            "recordings_dir": str(tmp_path / "spool"),
            "callbacks": {
                "enabled": True,
                "ami": {"port": free_port(), "secret": "s", "reconnect_min_s": 0.1},
                "cdr_csv": {"path": str(master), "poll_s": 1},
            },
        }
    )
    placeholder_prompts(config.telephony)
    core = Collector(make_config(), "citygw/v1/candidates/#", "core")
    agi = RunningAgi(config)
    try:
        first = Daemon(config)
        assert first.runtime is not None
        wait_until(lambda: len(from_cdr(core)) == 1, 20, "the queue-call record")
        [queued] = from_cdr(core)
        assert queued.facts["uniqueid"] == hotline_caller("queue-call")["UniqueID"]
        assert queued.facts["gateway_reached"] is False and queued.facts["duration_s"] == 5

        # a call the IVR takes, whose CDR then lands in the file: no call record
        ivr_id = "1796393600.21"
        place_call(REPORT, agi.options(uniqueid=ivr_id), timeout_s=20)
        side = first.runtime.side
        wait_until(lambda: side.store.ivr_handled(ivr_id), 10, "the IVR's candidate over MQTT")
        ivr_row = {
            **hotline_caller("queue-abandon"),
            "DestinationContext": "citygw-12319",
            "Channel": "Local/s@citygw-12319-00000009;2",
            "LastApplication": "AGI",
            "LastData": "agi://127.0.0.1:4573/ivr12319?lang=zh",
            "UniqueID": ivr_id,
        }
        append(master, csv_row(ivr_row))
        wait_until(lambda: first.cdr_csv()["ivr_handled"] == 1, 20, "the IVR call's row")
        first.close()

        # while the daemon is stopped, a caller abandons the queue
        append(master, *(csv_row(f) for f in recorded_cdrs("queue-abandon")))
        second = Daemon(config)
        wait_until(lambda: len(from_cdr(core)) == 2, 20, "the queue-abandon record")
        wait_until(lambda: second.cdr_csv()["state"] == "up_to_date", 10, "the file read")
        assert second.cdr_csv()["rows"] == 2  # the restart read only what the file gained
        second.close()
        records = from_cdr(core)
        assert sorted(str(r.facts["uniqueid"]) for r in records) == [
            hotline_caller("queue-call")["UniqueID"],
            hotline_caller("queue-abandon")["UniqueID"],
        ]
        abandon = records[1]
        assert abandon.reporter is not None and abandon.reporter.callback_number == "13800138001"
        assert not any(r.facts["uniqueid"] == ivr_id for r in records)
    finally:
        core.close()
        agi.close()
