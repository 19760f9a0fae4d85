"""Configuration: the annotated example validates; broken files fail with key path and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "citygw.example.yaml"


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_annotated_example_passes_the_check_command() -> None:
    result = run_check(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert "：配置正确（实例 edge-01，MQTT 代理 " in result.stdout


def test_the_example_loads_with_its_documented_values() -> None:
    config = load_config(EXAMPLE)
    assert config.instance == "edge-01"
    assert config.mqtt.topic_root == "citygw/v1"
    assert config.outbox.max_messages == 1_000_000


BROKEN = {
    "port-out-of-range": ("mqtt:\n  host: broker.local\n  port: 70000\n", "mqtt.port", 3),
    "unknown-key": (
        "instance: edge-9\noutbox:\n  max_messages: 100\n  max_mesages: 5\n",
        "outbox.max_mesages",
        4,
    ),
    "zone-crossing-itself": (
        "video:\n  analysis:\n    cameras:\n      cam-1:\n        zones:\n          bow:\n"
        "            polygon: [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]\n",
        "video.analysis.cameras.cam-1.zones.bow.polygon",
        7,
    ),
    "zone-outside-the-frame": (
        "video:\n  analysis:\n    cameras:\n      cam-1:\n        zones:\n          out:\n"
        "            polygon: [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]\n",
        "video.analysis.cameras.cam-1.zones.out.polygon.1.0",
        7,
    ),
    "zone-footprint-crossing-itself": (
        "video:\n  analysis:\n    cameras:\n      cam-1:\n        zones:\n          kerb:\n"
        "            polygon: [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]\n"
        "            footprint: [[119.1, 34.6], [119.2, 34.7], [119.2, 34.6], [119.1, 34.7]]\n",
        "video.analysis.cameras.cam-1.zones.kerb.footprint",
        8,
    ),
    "zone-footprint-not-lon-lat": (
        "video:\n  analysis:\n    cameras:\n      cam-1:\n        zones:\n          kerb:\n"
        "            polygon: [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]\n"
        "            footprint: [[34.6, 119.1], [34.7, 119.2], [34.6, 119.2]]\n",
        "video.analysis.cameras.cam-1.zones.kerb.footprint",
        8,
    ),
    "motion-mask-without-area": (
        "video:\n  analysis:\n    cameras:\n      cam-1:\n        motion_masks:\n"
        "          - [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]\n",
        "video.analysis.cameras.cam-1.motion_masks.0",
        6,
    ),
    "wrong-type-deep": (
        "logging:\n  level: INFO\nmqtt:\n  tls:\n    insecure_skip_verify: perhaps\n",
        "mqtt.tls.insecure_skip_verify",
        5,
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_config_fails_the_check_naming_key_path_and_line(
    tmp_path: Path, name: str
) -> None:
    text, path, line = BROKEN[name]
    file = tmp_path / f"{name}.yaml"
    file.write_text(text)
    result = run_check(file)
    assert result.returncode == 1
    assert "：配置有误（" in result.stderr and f"{path}（第 {line} 行）：" in result.stderr


def test_the_check_says_each_reason_in_chinese_keeping_a_rules_own_words(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(
        "mqtt:\n  port: 70000\n  keepalive_s: 1.5\n  host: ${CITYGW_NO_SUCH_VAR}\n"
        "outbox:\n  max_mesages: 5\n"
    )
    said = run_check(file).stderr
    assert f"{file}：配置有误（" in said
    assert "  mqtt.port（第 2 行）：应小于或等于 65535" in said
    assert "  mqtt.keepalive_s（第 3 行）：应为整数（不能有小数部分）" in said
    assert "  mqtt.host（第 4 行）：环境变量 CITYGW_NO_SUCH_VAR 未设置" in said
    assert "  outbox.max_mesages（第 6 行）：不认识的键（是否拼写有误？）" in said
    (tmp_path / "rule.yaml").write_text("core:\n  case_number_prefix: '01'\n")
    said = run_check(tmp_path / "rule.yaml").stderr
    assert "：取值无效：core.case_number_prefix and telephony.case_number_prefix" in said
    (tmp_path / "list.yaml").write_text("- 1\n")
    assert "  文件（第 1 行）：顶层必须是映射（键: 值）" in run_check(tmp_path / "list.yaml").stderr


def test_every_error_of_a_file_is_reported_at_once() -> None:
    text = "mqtt:\n  port: 0\n  reconnect_min_s: -1\nlogging:\n  level: CHATTY\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    paths = {issue.path for issue in caught.value.issues}
    assert {"mqtt.port", "mqtt.reconnect_min_s", "logging.level"} <= paths
    assert {issue.line for issue in caught.value.issues} == {2, 3, 5}


def test_secrets_come_from_the_environment_and_are_not_printed() -> None:
    text = "mqtt:\n  username: gw\n  password: ${CITYGW_TEST_PW}\n"
    config = parse_config(text, env={"CITYGW_TEST_PW": "s3cret"})
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)


def test_a_missing_environment_variable_is_an_error_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("mqtt:\n  host: ${CITYGW_NO_SUCH_VAR}\n", env={})
    assert any(
        i.path == "mqtt.host" and "CITYGW_NO_SUCH_VAR" in i.message for i in caught.value.issues
    )
    assert (
        parse_config("mqtt:\n  host: ${CITYGW_NO_SUCH_VAR:-broker}\n", env={}).mqtt.host == "broker"
    )


def test_invalid_yaml_reports_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("mqtt:\n  port: [1883\n")
    assert caught.value.issues[0].line is not None
    assert "YAML" in caught.value.issues[0].message


def test_a_duplicate_key_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("mqtt:\n  port: 1883\n  port: 1884\n")
    assert "duplicate" in str(caught.value)
