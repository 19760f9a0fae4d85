"""Calls made while `citygw agi` was down, caught up from Master.csv: the real store and
the real `UnhandledCalls`, rows written from the Cdr events a real Asterisk sent."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.clock import FakeClock
from gateway.config import Config, ConfigError, parse_config
from gateway.contract import CandidateCase, Source, SourceKind
from gateway.telephony.callback_settings import CdrCsvSettings
from gateway.telephony.callback_store import CallbackStore
from gateway.telephony.cdr_catchup import CdrCatchUp, State
from gateway.telephony.unhandled_calls import UnhandledCalls
from tests.conftest import REPO_ROOT
from tests.telephony.cdr_rows import ZONE, append, csv_row, hotline_caller, recorded_cdrs

NOW = datetime(2026, 12, 4, 14, 20, tzinfo=ZONE)  # 8 minutes after the recorded calls
CONTEXTS = ["citygw-12319", "citygw-agents"]


@dataclass
class Outbox:
    published: list[CandidateCase] = field(default_factory=list)
    refuse: bool = False

    def candidate(self, candidate: CandidateCase) -> int:
        if self.refuse:
            raise RuntimeError("outbox full")
        self.published.append(candidate)
        return len(self.published)

    def uniqueids(self) -> list[str]:
        return [str(c.facts["uniqueid"]) for c in self.published]


class Gateway:
    """The parts of one `citygw agi` run that take part: its store, its UnhandledCalls,
    its catch-up, over the state folder a restart finds again."""

    def __init__(self, state: Path, outbox: Outbox, **settings: Any) -> None:
        self.store = CallbackStore(state / "callbacks.sqlite3")
        self.calls = UnhandledCalls(
            CONTEXTS,
            handled=self.store,
            publisher=outbox,
            source=Source(kind=SourceKind.CALL, id="agi-1"),
            fallback_event_code="0199",
            clock=FakeClock(NOW),
            grace_s=0.01,
        )
        self.catchup = CdrCatchUp(
            CdrCsvSettings(path=state.parent / "asterisk" / "Master.csv", **settings),
            calls=self.calls,
            position_file=state / "cdr-csv.json",
            zone=ZONE,
            clock=FakeClock(NOW),
        )

    def run_for(self, seconds: float = 0.3) -> None:
        async def run() -> None:
            task = asyncio.create_task(self.catchup.run())
            await asyncio.sleep(seconds)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(run())

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def master(tmp_path: Path) -> Path:
    return tmp_path / "asterisk" / "Master.csv"


def rows(scenario: str) -> list[bytes]:
    return [csv_row(f) for f in recorded_cdrs(scenario)]


def test_calls_made_while_the_gateway_was_down_become_one_call_record_each(
    tmp_path: Path, master: Path
) -> None:
    append(master, *rows("queue-call"), *rows("queue-abandon"))  # 5 CDRs, 2 hotline callers
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)
    gateway.run_for()
    gateway.close()
    assert sorted(outbox.uniqueids()) == sorted(
        [hotline_caller("queue-call")["UniqueID"], hotline_caller("queue-abandon")["UniqueID"]]
    )
    abandon = next(c for c in outbox.published if c.facts["uniqueid"] == "1796393513.13")
    assert abandon.facts["gateway_reached"] is False and abandon.facts["duration_s"] == 6
    assert abandon.reporter is not None and abandon.reporter.callback_number == "13800138001"
    assert "转人工队列" in abandon.description
    assert gateway.catchup.counts["rows"] == 5 and gateway.catchup.counts["recorded"] == 2


def test_the_position_survives_a_restart_and_nothing_is_recorded_twice(
    tmp_path: Path, master: Path
) -> None:
    append(master, *rows("queue-abandon"))
    outbox = Outbox()
    first = Gateway(tmp_path / "state", outbox)
    first.run_for()
    first.close()
    assert outbox.uniqueids() == ["1796393513.13"]
    append(master, *rows("queue-call"))  # while the gateway is stopped
    second = Gateway(tmp_path / "state", outbox)
    second.run_for()
    second.close()
    assert outbox.uniqueids() == ["1796393513.13", "1796393504.9"]
    assert second.catchup.counts["rows"] == 3  # only what the file gained
    assert second.catchup.state is State.STOPPED
    third = Gateway(tmp_path / "state", outbox)
    third.run_for()
    third.close()
    assert len(outbox.published) == 2 and third.catchup.counts["rows"] == 0


def test_a_call_seen_over_ami_is_recorded_once(tmp_path: Path, master: Path) -> None:
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)

    async def ami_first() -> None:
        for fields in recorded_cdrs("queue-abandon"):
            gateway.calls.on_cdr(fields)
        await asyncio.sleep(0.1)

    asyncio.run(ami_first())
    assert outbox.uniqueids() == ["1796393513.13"]
    append(master, *rows("queue-abandon"))
    gateway.run_for()
    assert outbox.uniqueids() == ["1796393513.13"]
    assert gateway.catchup.counts["already_recorded"] == 1

    append(master, *rows("queue-call"))  # this time the file first, then AMI
    gateway.run_for()
    asyncio.run(ami_after(gateway))
    gateway.close()
    assert outbox.uniqueids() == ["1796393513.13", "1796393504.9"]


async def ami_after(gateway: Gateway) -> None:
    for fields in recorded_cdrs("queue-call"):
        gateway.calls.on_cdr(fields)
    await asyncio.sleep(0.1)


def test_a_call_the_ivr_handled_is_not_recorded(tmp_path: Path, master: Path) -> None:
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)
    gateway.store.remember_ivr_call(hotline_caller("queue-abandon")["UniqueID"], NOW)
    append(master, *rows("queue-abandon"), *rows("queue-call"))
    gateway.run_for()
    gateway.close()
    assert outbox.uniqueids() == ["1796393504.9"]
    assert gateway.catchup.counts["ivr_handled"] == 1


def test_a_malformed_row_is_logged_with_its_line_and_the_others_go_on(
    tmp_path: Path, master: Path, caplog: pytest.LogCaptureFixture
) -> None:
    abandon, call = rows("queue-abandon"), rows("queue-call")
    broken = call[1].replace(b',5,5,"ANSWERED"', b',5,"ANSWERED"')  # a field short
    append(master, *abandon, b"not a cdr at all\n", broken, call[0], call[2])
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)
    with caplog.at_level(logging.WARNING, logger="gateway.telephony.cdr_catchup"):
        gateway.run_for()
    gateway.close()
    assert sorted(outbox.uniqueids()) == ["1796393513.13"]  # the queue-call caller was broken
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{master} line 3: 1 fields, expected 18" in m for m in messages)
    assert any(f"{master} line 4: 17 fields, expected 18" in m for m in messages)
    assert gateway.catchup.counts["malformed"] == 2 and gateway.catchup.counts["rows"] == 6


def test_a_rotated_and_a_truncated_file_lose_and_double_nothing(
    tmp_path: Path, master: Path
) -> None:
    abandon, call = rows("queue-abandon"), rows("queue-call")
    append(master, abandon[0])  # the ;1 half: no record
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)
    gateway.run_for()
    append(master, abandon[1])  # after the last read, before logrotate moved the file
    master.rename(master.with_name("Master.csv.1"))
    append(master, *call)
    gateway.run_for()
    assert sorted(outbox.uniqueids()) == ["1796393504.9", "1796393513.13"]
    with master.open("r+b") as handle:  # copytruncate, then a row read before
        handle.truncate(0)
    append(master, *abandon)
    gateway.run_for()
    gateway.close()
    assert sorted(outbox.uniqueids()) == ["1796393504.9", "1796393513.13"]
    assert gateway.catchup.counts["already_recorded"] == 1


def test_a_refused_record_holds_the_position_until_the_outbox_takes_it(
    tmp_path: Path, master: Path
) -> None:
    append(master, *rows("queue-abandon"))
    outbox = Outbox(refuse=True)
    gateway = Gateway(tmp_path / "state", outbox, poll_s=1)
    gateway.run_for()
    assert outbox.published == [] and gateway.catchup.state is State.STOPPED
    assert gateway.catchup.counts["refused"] == 1
    outbox.refuse = False
    gateway.run_for()
    gateway.close()
    assert outbox.uniqueids() == ["1796393513.13"]


def test_rows_older_than_max_age_are_not_recorded(tmp_path: Path, master: Path) -> None:
    append(master, *rows("queue-abandon"))
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox, max_age_s=60)  # the call ended 8 min ago
    gateway.run_for()
    gateway.close()
    assert outbox.published == [] and gateway.catchup.counts["too_old"] == 1


def test_gmt_rows_are_read_as_gmt(tmp_path: Path, master: Path) -> None:
    from adapters.asterisk.cdr_csv import CsvLayout

    layout = CsvLayout(usegmtime=True, newcdrcolumns=True)
    append(master, *(csv_row(f, layout) for f in recorded_cdrs("queue-abandon")))
    outbox = Outbox()
    gateway = Gateway(
        tmp_path / "state", outbox, usegmtime=True, newcdrcolumns=True, max_age_s=3600
    )
    gateway.run_for()
    gateway.close()
    [record] = outbox.published
    assert record.facts["ended_at_local"] == "2026-12-04 14:11:59"


def test_an_unreadable_position_is_set_aside_and_the_file_read_from_its_start(
    tmp_path: Path, master: Path
) -> None:
    append(master, *rows("queue-abandon"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "cdr-csv.json").write_bytes(b"{torn")
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)
    gateway.run_for()
    gateway.close()
    assert outbox.uniqueids() == ["1796393513.13"]
    assert (tmp_path / "state" / "cdr-csv.json.unreadable").read_bytes() == b"{torn"


def test_a_missing_or_unreadable_file_is_a_state_not_a_crash(tmp_path: Path, master: Path) -> None:
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox)
    asyncio.run(_one_step(gateway))
    assert gateway.catchup.state is State.MISSING
    master.mkdir(parents=True)  # a folder where the file should be: reading fails
    asyncio.run(_one_step(gateway))
    assert gateway.catchup.state is State.UNREADABLE
    gateway.close()


async def _one_step(gateway: Gateway) -> None:
    try:
        await gateway.catchup.step()
    finally:
        gateway.catchup.close()


@pytest.mark.parametrize(
    ("callbacks", "key", "says"),
    [
        (
            "enabled: true\n    ami: {secret: s}\n    cdr_csv: {path: Master.csv}",
            "telephony.callbacks.cdr_csv.path",
            "absolute",
        ),
        (
            "cdr_csv: {path: /var/log/asterisk/cdr-csv/Master.csv}",
            "telephony.callbacks",
            "cdr_csv.path needs callbacks.enabled",
        ),
        (
            "enabled: true\n    ami: {secret: s}\n    cdr_csv: {path: /x/Master.csv, poll_s: 0}",
            "telephony.callbacks.cdr_csv.poll_s",
            "greater than or equal to 1",
        ),
        (
            "enabled: true\n    ami: {secret: s}\n    cdr_csv: {path: /x/Master.csv, max_age_s: 864000}",
            "telephony.callbacks.cdr_csv.max_age_s",
            "less than or equal",
        ),
        (
            "enabled: true\n    ami: {secret: s}\n    cdr_csv: {paht: /x/Master.csv}",
            "telephony.callbacks.cdr_csv.paht",
            "xtra",
        ),
    ],
)
def test_the_config_check_refuses_a_bad_cdr_csv_value_naming_the_key(
    callbacks: str, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"telephony:\n  callbacks:\n    {callbacks}\n")
    assert any(i.path == key and says in i.message for i in caught.value.issues), caught.value


def test_the_example_of_the_asterisk_readme_is_a_valid_config() -> None:
    readme = (REPO_ROOT / "config" / "asterisk" / "README.md").read_text()
    section = readme[readme.index("## Calls while the AMI side is down") :]
    block = section[
        section.index("```yaml") + len("```yaml") : section.index(
            "```", section.index("```yaml") + 7
        )
    ]
    document = yaml.safe_load(block)
    document["telephony"]["callbacks"].update(enabled=True, ami={"secret": "s"})
    config = Config.model_validate(document)
    csv = config.telephony.callbacks.cdr_csv
    assert csv.path == Path("/var/log/asterisk/cdr-csv/Master.csv")
    assert csv.loguserfield and not csv.newcdrcolumns and not csv.usegmtime
    assert csv.max_age_s == 259200 and csv.poll_s == 15


def test_a_failing_store_is_logged_and_the_reading_goes_on(
    tmp_path: Path, master: Path, caplog: pytest.LogCaptureFixture
) -> None:
    append(master, *rows("queue-abandon"))
    outbox = Outbox()
    gateway = Gateway(tmp_path / "state", outbox, poll_s=1)
    gateway.store.close()  # every question to it now raises
    with caplog.at_level(logging.ERROR, logger="gateway.telephony.cdr_catchup"):
        gateway.run_for(2.5)  # tried again after poll_s: the loop lives until cancelled
    assert outbox.published == []
    failures = [r for r in caplog.records if "reading stopped; tried again later" in r.getMessage()]
    assert len(failures) >= 2
