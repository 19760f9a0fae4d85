"""``citygw core add-user``: a user saved, or refused with the reason, in Chinese."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli


def add_user(config: Path, *args: str, password: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["-c", str(config), "core", "add-user", *args], env={"CITYGW_PASSWORD": password}
    )
    return result.exit_code, result.output


def test_a_user_is_saved_and_a_bad_one_refused_with_its_reason(tmp_path: Path) -> None:
    config = tmp_path / "core.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    assert add_user(config, "ann", "--role", "operator", password="correct-horse-9") == (
        0,
        "用户 ann（角色 operator）已保存\n",
    )
    code, said = add_user(config, "bob", "--role", "operator", password="short")
    assert code == 1 and said.startswith("用户未保存：密码至少 ") and "个字符" in said
    code, said = add_user(
        config, "cid", "--role", "operator", "--grid", "320706", password="correct-horse-9"
    )
    assert (code, said) == (1, "用户未保存：只有监督员才分配网格（--grid）\n")
