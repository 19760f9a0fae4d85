"""WS-Discovery with no address configured: a probe out of every interface that can
multicast, loopback included. Tests probe only this machine's own loopback addresses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.onvif.discovery import discover_devices
from gateway.video.testcam.discovery_responder import multicast_problem
from gateway.video.testcam.harness import TestCamera


def test_every_interface_that_can_multicast_is_found_loopback_included() -> None:
    from adapters.onvif.discovery import multicast_interfaces

    assert ("lo", "127.0.0.1") in multicast_interfaces()


def test_a_probe_out_of_several_interfaces_reads_the_answers_of_all(
    make_camera: Callable[..., TestCamera],
) -> None:
    problem = multicast_problem("127.0.0.1")
    if problem is not None:
        pytest.skip(f"multicast on loopback is not possible here: {problem}")
    camera = make_camera(multicast_interface="127.0.0.1")
    # only this machine's own addresses are probed in tests: loopback, twice over two sockets
    devices = discover_devices(timeout_s=2, addresses=["127.0.0.1", "127.0.0.2"])
    ours = [d for d in devices if d.xaddrs == [camera.onvif_url]]
    assert len(ours) == 1  # answered on both sockets, listed once


def test_discover_add_writes_the_cameras_found_as_a_configuration_snippet(
    make_camera: Callable[..., TestCamera], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    import yaml
    from click.testing import CliRunner

    from gateway.cli import cli

    camera = make_camera()
    snippet = tmp_path / "cameras.yaml"
    command = ["cameras", "discover", "--timeout", "5", "--target",
               f"127.0.0.1:{camera.discovery_port}", "--add", str(snippet),
               "--username", "admin", "--password-env", "CITYGW_CAM_PASSWORD"]  # fmt: skip
    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 0, first.output
    assert "新增摄像头 1 台" in first.output
    (entry,) = yaml.safe_load(snippet.read_text())["video"]["cameras"]
    assert entry["onvif"] == {"url": camera.onvif_url}
    assert entry["username"] == "admin" and entry["password"] == "${CITYGW_CAM_PASSWORD}"
    again = CliRunner().invoke(cli, command)  # run again: the camera is known
    assert again.exit_code == 0 and "新增摄像头 0 台（无新增）" in again.output
    assert len(yaml.safe_load(snippet.read_text())["video"]["cameras"]) == 1
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check", str(snippet)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CITYGW_CAM_PASSWORD": "secret-1"},
    )
    assert checked.returncode == 0, checked.stderr
    assert "secret-1" not in snippet.read_text()


def test_camera_ids_come_from_the_name_scope_or_the_address_and_never_collide() -> None:
    from gateway.video.camera_snippet import camera_id_for, merge_cameras, scopes_of

    said = scopes_of(
        ["onvif://www.onvif.org/name/Gate_3%20North", "onvif://www.onvif.org/location/Lianyungang"]
    )
    assert said == {"name": "Gate 3 North", "location": "Lianyungang"}
    taken: set[str] = set()
    assert camera_id_for("Gate 3 North", "http://10.0.0.5/onvif", taken) == "gate-3-north"
    assert camera_id_for("Gate 3 North", "http://10.0.0.6/onvif", taken) == "gate-3-north-2"
    assert camera_id_for("北门", "http://10.0.0.7/onvif", taken) == "cam-10-0-0-7"
    document, added, secrets = merge_cameras(None, [(["http://10.0.0.8/onvif/device_service"], [])])
    assert added == ["cam-10-0-0-8"] and "password" not in document["video"]["cameras"][0]
    assert secrets == {}


def _discover_add(camera: TestCamera, snippet: Path, *extra: str, **invoke: Any) -> Any:
    from click.testing import CliRunner

    from gateway.cli import cli

    command = ["cameras", "discover", "--timeout", "5", "--target",
               f"127.0.0.1:{camera.discovery_port}", "--add", str(snippet), *extra]  # fmt: skip
    return CliRunner().invoke(cli, command, **invoke)


def _config_check(snippet: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check", str(snippet)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def _env_file(path: Path) -> dict[str, str]:
    """An environment file as a shell reads it (`set -a; . FILE`)."""
    shown = subprocess.run(
        ["sh", "-c", f'set -a; . "{path}"; env -0'], capture_output=True, timeout=10, env={}
    )
    pairs = (item.partition("=") for item in shown.stdout.decode().split("\0") if item)
    return {name: value for name, _, value in pairs if name.startswith("CITYGW_")}


def test_discover_add_takes_each_devices_credentials_from_a_file_and_never_writes_a_password(
    make_camera: Callable[..., TestCamera], tmp_path: Path
) -> None:
    camera = make_camera()
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(
        "- match: 10.9.9.9\n  username: other\n  password_env: CITYGW_OTHER\n"
        f"- match: 127.0.0.1:{camera.onvif_port}\n  username: admin\n"
        '  password: "s3cr$t \\"quoted\\" `x`"\n'
        "- match: '*'\n  username: viewer\n  password_env: CITYGW_VIEWER\n",
        encoding="utf-8",
    )
    snippet = tmp_path / "cameras.yaml"
    result = _discover_add(camera, snippet, "--credentials", str(credentials), "--username", "x")
    assert result.exit_code == 0, result.output
    (entry,) = yaml.safe_load(snippet.read_text())["video"]["cameras"]
    assert entry["id"] == "citygw-testcam"
    assert entry["username"] == "admin"  # its own entry, before '*' and --username
    assert entry["password"] == "${CITYGW_CAMERA_PASSWORD_CITYGW_TESTCAM}"
    env_file = tmp_path / "cameras.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "s3cr" not in snippet.read_text() and "s3cr" not in result.output
    assert "CITYGW_CAMERA_PASSWORD_CITYGW_TESTCAM" in result.output  # the name, not the value
    secrets = _env_file(env_file)
    assert secrets == {"CITYGW_CAMERA_PASSWORD_CITYGW_TESTCAM": 's3cr$t "quoted" `x`'}
    checked = _config_check(snippet, secrets)
    assert checked.returncode == 0, checked.stderr


def test_discover_add_asks_for_the_credentials_no_file_gives_with_the_password_unseen(
    make_camera: Callable[..., TestCamera], tmp_path: Path
) -> None:
    camera = make_camera()
    credentials = tmp_path / "credentials.csv"  # no row for this device
    credentials.write_text(
        "match,username,password_env,password\n10.9.9.9,other,CITYGW_OTHER,\n", encoding="utf-8"
    )
    snippet = tmp_path / "site.yaml"
    (snippet.with_suffix(".env")).write_text('CITYGW_KEPT="1"\n', encoding="utf-8")
    result = _discover_add(
        camera, snippet, "--credentials", str(credentials), "--prompt", input="admin\npw-typed\n"
    )
    assert result.exit_code == 0, result.output
    assert "摄像头 citygw-testcam" in result.output and "的密码（输入不显示）" in result.output
    assert "pw-typed" not in result.output  # typed unseen, never echoed
    (entry,) = yaml.safe_load(snippet.read_text())["video"]["cameras"]
    assert entry["username"] == "admin"
    assert entry["password"] == "${CITYGW_CAMERA_PASSWORD_CITYGW_TESTCAM}"
    assert _env_file(tmp_path / "site.env") == {
        "CITYGW_KEPT": "1",  # what was there stays
        "CITYGW_CAMERA_PASSWORD_CITYGW_TESTCAM": "pw-typed",
    }
    # an empty user name: the device is added without credentials
    blank = _discover_add(camera, tmp_path / "blank.yaml", "--prompt", input="\n")
    assert blank.exit_code == 0, blank.output
    (entry,) = yaml.safe_load((tmp_path / "blank.yaml").read_text())["video"]["cameras"]
    assert "username" not in entry and "password" not in entry
    assert not (tmp_path / "blank.env").exists()


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("missing.yaml", None, "凭据文件 {path} 不存在"),
        ("folder.yaml", "dir", "凭据文件 {path} 无法读取：这是一个目录"),
        ("binary.yaml", b"\xff\xfe\x00", "凭据文件 {path} 无法读取：不是 UTF-8 文本"),
        ("syntax.yaml", "- match: [a\n", "YAML 语法错误（第 2 行）"),
        ("mapping.yaml", "match: a\n", "应为条目列表"),
        ("both.yaml", "- {match: a, username: u, password_env: P, password: p}\n",
         "第 1 条应给出 password_env 或 password，且只给其一"),
        ("neither.yaml", "- {match: a, username: u}\n- x\n", "第 1 条应给出 password_env"),
        ("scalar.yaml", "- {match: a, username: u, password: p}\n- x\n", "第 2 条不是"),
        ("user.yaml", "- {match: a, password: p}\n", "第 1 条缺少 username"),
        ("env.yaml", "- {match: a, username: u, password_env: 1BAD}\n", "不是合法的环境变量名"),
        ("field.yaml", "- {match: a, username: u, password: p, pasword: q}\n", "未知字段 pasword"),
        ("header.csv", "host,user\n", "CSV 第一行应为列名"),
    ],
)  # fmt: skip
def test_a_credentials_file_that_cannot_be_used_is_refused_in_chinese_before_any_probe(
    tmp_path: Path, name: str, content: str | bytes | None, said: str
) -> None:
    from click.testing import CliRunner

    from gateway.cli import cli

    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    snippet = tmp_path / "cameras.yaml"
    command = ["cameras", "discover", "--target", "127.0.0.1:9", "--add", str(snippet),
               "--credentials", str(path)]  # fmt: skip
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1, result.output
    assert said.format(path=path) in result.output
    assert not snippet.exists()


def test_credentials_without_add_are_a_usage_error() -> None:
    from click.testing import CliRunner

    from gateway.cli import cli

    result = CliRunner().invoke(cli, ["cameras", "discover", "--prompt"])
    assert result.exit_code == 2 and "只能与 --add 一起使用" in result.output


def test_a_device_matches_by_address_url_or_onvif_name_and_the_first_entry_wins() -> None:
    from gateway.video.camera_credentials import env_file_lines, parse_credentials
    from gateway.video.camera_snippet import merge_cameras

    book = parse_credentials(
        "- {match: 10.0.0.5, username: by-host, password_env: P_HOST}\n"
        "- {match: '10.0.0.6:8080', username: by-port, password_env: P_PORT}\n"
        "- {match: 'http://10.0.0.7/onvif/device_service', username: by-url, password: pw-url}\n"
        "- {match: gate 3 north, username: by-name, password_env: P_NAME}\n"
        "- {match: 'onvif://www.onvif.org/hardware/X1', username: by-scope, password: pw-scope}\n"
        "- {match: 10.0.0.5, username: never, password_env: P_NEVER}\n",
        csv_format=False,
    )
    devices = [
        (["http://10.0.0.5/onvif/device_service"], ["onvif://www.onvif.org/name/Gate_3_North"]),
        (["http://10.0.0.6:8080/onvif/device_service"], []),
        (["http://10.0.0.7/onvif/device_service"], []),
        (["http://10.0.0.8/onvif/device_service"], ["onvif://www.onvif.org/name/Gate_3_North"]),
        (["http://10.0.0.9/onvif/device_service"], ["onvif://www.onvif.org/hardware/X1"]),
        (["http://10.0.0.10/onvif/device_service"], []),
    ]
    document, _added, secrets = merge_cameras(
        None, devices, lambda url, said, raw, _id: book.for_device(url, said, raw)
    )
    users = [(c["id"], c.get("username"), c.get("password")) for c in document["video"]["cameras"]]
    assert users == [
        ("gate-3-north", "by-host", "${P_HOST}"),  # host before name, first entry wins
        ("cam-10-0-0-6", "by-port", "${P_PORT}"),
        ("cam-10-0-0-7", "by-url", "${CITYGW_CAMERA_PASSWORD_CAM_10_0_0_7}"),
        ("gate-3-north-2", "by-name", "${P_NAME}"),  # names match case-insensitively
        ("cam-10-0-0-9", "by-scope", "${CITYGW_CAMERA_PASSWORD_CAM_10_0_0_9}"),
        ("cam-10-0-0-10", None, None),  # no entry, no '*': no credentials
    ]
    assert secrets == {
        "CITYGW_CAMERA_PASSWORD_CAM_10_0_0_7": "pw-url",
        "CITYGW_CAMERA_PASSWORD_CAM_10_0_0_9": "pw-scope",
    }
    assert "pw-url" not in repr(book.for_device(devices[2][0][0], {}, []))  # repr hides it
    csv_book = parse_credentials(
        "match,username,password_env,password\n*,viewer,,p w\n", csv_format=True
    )
    found = csv_book.for_device("http://10.1.1.1/onvif", {}, [])
    assert found is not None and (found.username, found.password) == ("viewer", "p w")
    assert env_file_lines("A=1\nP=old\n", {"P": 'x"$'}) == 'A=1\nP="x\\"\\$"\n'
