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


def stored_node(config: Path, name: str) -> str | None:
    from gateway.config import load_config
    from gateway.core.daemon import build_service

    service, auth = build_service(load_config(config))
    try:
        user = auth.user(name)
    finally:
        service.store.close()  # type: ignore[attr-defined]
    assert user is not None
    return user["org_node"]


def test_a_district_dispatcher_is_placed_at_its_centre_and_an_unknown_node_refused(
    tmp_path: Path,
) -> None:
    config = tmp_path / "core.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    said = add_user(
        config, "hz-disp", "--role", "dispatcher", "--node", "320706", password="correct-horse-9"
    )
    assert said == (0, "用户 hz-disp（角色 dispatcher，所属中心 海州区）已保存\n")
    assert stored_node(config, "hz-disp") == "320706"
    # back to the city centre
    said = add_user(
        config, "hz-disp", "--role", "dispatcher", "--node", "city", password="correct-horse-9"
    )
    assert said == (0, "用户 hz-disp（角色 dispatcher）已保存\n")
    assert stored_node(config, "hz-disp") is None
    # a node of no tree: refused before anything is saved, in Chinese
    code, said = add_user(
        config, "ghost", "--role", "dispatcher", "--node", "999999", password="correct-horse-9"
    )
    assert code == 2
    assert said.startswith("组织树中没有编号为 999999 的节点：--node 应为区级中心的编号")
    # a street is no desk's centre (only an inspector's)
    code, said = add_user(
        config, "st-disp", "--role", "dispatcher", "--node", "320706001", password="correct-horse-9"
    )
    assert code == 1
    assert said.startswith("用户未保存：组织节点 '320706001' 不适用于角色 dispatcher")
    assert add_user(
        config, "st-insp", "--role", "inspector", "--node", "320706001", password="correct-horse-9"
    ) == (0, "用户 st-insp（角色 inspector，所属中心 海州街道）已保存\n")
