"""`citygw agi-call`: one scripted report call against a running gateway, printed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli
from tests.telephony.conftest import Gateway


def test_agi_call_places_a_report_and_prints_the_case_number(
    gateway: Gateway, tmp_path: Path
) -> None:
    config = tmp_path / "caller.yaml"
    config.write_text(f"telephony:\n  listen_port: {gateway.server.port}\n")
    result = CliRunner().invoke(cli, ["-c", str(config), "agi-call", "--district", "3"])
    assert result.exit_code == 0, result.output
    gateway.wait_idle()
    [candidate] = gateway.publisher.candidates
    assert candidate.location.district == "赣榆区" and candidate.event_code == "0599"
    assert f"案件编号 {candidate.case_number}" in result.output
    assert ">> RECORD FILE" in result.output and "<< 200 result=35 (dtmf)" in result.output


def test_agi_call_says_so_when_no_gateway_listens(tmp_path: Path) -> None:
    from adapters.mqtt.broker import free_port

    config = tmp_path / "caller.yaml"
    config.write_text(f"telephony:\n  listen_port: {free_port()}\n")
    result = CliRunner().invoke(cli, ["-c", str(config), "agi-call"])
    assert result.exit_code == 1
    assert "无法连接网关" in result.output
