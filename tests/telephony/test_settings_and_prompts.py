"""Telephony settings, the prompt catalogue, `citygw prompts build` and the start-up check."""

from __future__ import annotations

import csv
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from gateway.cli import cli
from gateway.config import ConfigError, parse_config
from gateway.telephony.prompt_build import build_prompts
from gateway.telephony.prompts import menu_prompts, missing_prompts, prompt_files
from gateway.telephony.settings import TelephonyConfig
from tests.conftest import FIXTURES_DIR


def codes(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as f:
        return {row["code"]: row["class_code"] for row in csv.DictReader(f)}


def test_every_default_category_maps_to_a_real_cjt214_code() -> None:
    events = codes(FIXTURES_DIR / "cjt214" / "cjt214-events.csv")
    components = codes(FIXTURES_DIR / "cjt214" / "cjt214-components.csv")
    assert len(events) > 50 and len(components) > 50
    for category in TelephonyConfig().categories:
        assert category.event_code in events, category
        table = events if category.table == "events" else components
        assert category.class_code in set(table.values()), category
        if category.table == "events":
            assert events[category.event_code] == category.class_code
    assert [c.name for c in TelephonyConfig().categories if c.urgent] == ["突发事件"]


def test_a_district_key_used_twice_is_refused_with_the_key_named() -> None:
    with pytest.raises(ValidationError, match=r"key\(s\) 1 used twice"):
        TelephonyConfig(districts=[{"key": "1", "name": "A"}, {"key": "1", "name": "B"}])


def test_menu_keys_9_and_0_are_reserved() -> None:
    with pytest.raises(ValidationError, match=r"districts\.0\.key"):
        TelephonyConfig(districts=[{"key": "9", "name": "A"}])


def test_the_telephony_section_of_a_config_file_is_checked_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"telephony\.case_number_prefix \(line 3\)"):
        parse_config("telephony:\n  listen_port: 4573\n  case_number_prefix: AB\n")


def test_the_district_menu_is_read_from_config() -> None:
    settings = TelephonyConfig(
        districts=[{"key": "1", "name": "海淀区"}, {"key": "2", "name": "丰台区"}]
    )
    text = menu_prompts(settings)["district-menu"]
    assert "海淀区请按1" in text and "丰台区请按2" in text and "人工服务请按0" in text


def test_prompts_are_built_as_8khz_mono_16bit_wav_and_kept_when_unchanged(tmp_path: Path) -> None:
    settings = TelephonyConfig(
        sounds_dir=tmp_path / "zh", districts=[{"key": "1", "name": "海州区"}]
    )
    seen: list[str] = []
    result = build_prompts(settings, progress=lambda i, n, p, made: seen.append(p.name))
    assert len(result.built) == len(prompt_files(settings)) == len(seen)
    assert missing_prompts(settings) == []
    for path in (settings.prompt_dir / "welcome.wav", settings.sounds_dir / "digits" / "7.wav"):
        with wave.open(str(path)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            assert wav.getnframes() > 8000 * 0.3  # something was said
    again = build_prompts(settings)
    assert again.built == [] and len(again.kept) == len(seen)
    changed = TelephonyConfig(
        sounds_dir=tmp_path / "zh", districts=[{"key": "1", "name": "连云区"}]
    )
    assert build_prompts(changed).built == [changed.prompt_dir / "district-menu.wav"]


def test_citygw_agi_refuses_to_start_naming_the_missing_prompt(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\n"
        f"telephony:\n  sounds_dir: {tmp_path / 'zh'}\n  listen_port: 0\n"
    )
    runner = CliRunner()
    built = runner.invoke(cli, ["-c", str(config), "prompts", "build"])
    assert built.exit_code == 0, built.output
    assert "[49/49]" in built.output and "citygw/welcome.wav 已生成" in built.output
    (tmp_path / "zh" / "citygw" / "survey.wav").unlink()
    checked = runner.invoke(cli, ["-c", str(config), "prompts", "check"])
    assert checked.exit_code == 1 and "缺少语音提示：" in checked.output
    assert "survey.wav" in checked.output
    refused = runner.invoke(cli, ["-c", str(config), "agi"])
    assert refused.exit_code == 1
    assert f"{tmp_path / 'zh' / 'citygw' / 'survey.wav'}" in refused.output
    assert "拒绝启动：缺少 1 个语音提示文件" in refused.output
    assert "citygw prompts build" in refused.output
