"""click's own frame of a refusal (``Error:``, ``Invalid value for``, ``Try … for help.``)
reads Chinese on every ``citygw`` command; exit codes stay click's."""

from __future__ import annotations

from click.testing import CliRunner

from gateway.cli import cli


def test_a_bad_value_is_refused_in_chinese_naming_the_option() -> None:
    result = CliRunner().invoke(
        cli, ["cameras", "discover", "--target", "nowhere"], prog_name="citygw"
    )
    assert result.exit_code == 2
    assert "用 'citygw cameras discover -h' 查看帮助。" in result.output
    assert "错误：--target 的取值无效：应为 HOST:PORT（主机:端口）" in result.output
    assert "Error" not in result.output and "Try " not in result.output


def test_a_missing_argument_and_a_refusal_of_ours_read_chinese() -> None:
    missing = CliRunner().invoke(cli, ["core", "add-user"])
    assert missing.exit_code == 2 and missing.output.endswith("错误：缺少 'NAME'\n")
    none = CliRunner().invoke(cli, ["broker", "acl"])
    assert none.exit_code == 1 and none.output.startswith("错误：未给出任何配置")


def test_a_bare_group_shows_its_help_as_click_does() -> None:
    result = CliRunner().invoke(cli, ["cameras"])
    assert result.exit_code == 2 and "discover" in result.output and "错误" not in result.output
