"""JSON log lines: UTC milliseconds, the ids a record carries; text stays the default."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from gateway.config import ConfigError, parse_config
from gateway.log_format import JsonFormatter, utc_millis


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "citygw.test", logging.WARNING, __file__, 1, "camera %s lost", ("gate-3",), None
    )
    record.created = 1_796_413_800.1234  # 2026-12-04T19:50:00.123Z
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_a_utc_timestamp_in_milliseconds_and_the_ids_it_was_given() -> None:
    line = JsonFormatter().format(
        _record(camera="gate-3", case="c-1", call="1700.5", candidate="k-9")
    )
    entry = json.loads(line)
    assert entry["ts"] == "2026-12-04T19:50:00.123Z"
    assert entry["msg"] == "camera gate-3 lost"
    assert entry["level"] == "WARNING"
    assert (entry["camera"], entry["case"], entry["call"], entry["candidate"]) == (
        "gate-3",
        "c-1",
        "1700.5",
        "k-9",
    )


def test_a_json_line_leaves_out_ids_the_record_does_not_carry() -> None:
    entry = json.loads(JsonFormatter().format(_record(camera="gate-3")))
    assert "case" not in entry and "call" not in entry and "candidate" not in entry


def test_milliseconds_are_truncated_not_rounded_up_into_the_next_second() -> None:
    assert utc_millis(0.9999) == "1970-01-01T00:00:00.999Z"


def test_text_is_the_default_and_json_is_chosen_by_config() -> None:
    assert parse_config("").logging.format == "text"
    assert parse_config("logging:\n  format: json\n").logging.format == "json"
    with pytest.raises(ConfigError, match=r"logging\.format"):
        parse_config("logging:\n  format: xml\n")


def test_the_cli_flag_log_format_json_makes_the_daemons_log_json_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``citygw --log-format json``: a real command's log line on stderr is JSON."""
    config = tmp_path / "c.yaml"
    config.write_text(f"state_dir: {tmp_path}\ncore:\n  database_url: sqlite:///core.sqlite3\n")
    script = (
        "import logging, sys\n"
        "from gateway.cli import cli, pass_cli\n"
        "from gateway import bootstrap\n"
        "@cli.command('log-probe')\n"
        "@pass_cli\n"
        "def probe(ctx):\n"
        "    bootstrap.setup_logging(ctx.config)\n"
        "    logging.getLogger('citygw.probe').info('hello', extra={'case': 'c-7'})\n"
        "cli(sys.argv[1:], prog_name='citygw')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, "-c", str(config), "--log-format", "json", "log-probe"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entry = json.loads(out.stderr.strip().splitlines()[-1])
    assert entry["msg"] == "hello" and entry["case"] == "c-7" and entry["ts"].endswith("Z")
    text = subprocess.run(
        [sys.executable, "-c", script, "-c", str(config), "log-probe"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "INFO" in text.stderr and "hello" in text.stderr and not text.stderr.startswith("{")
