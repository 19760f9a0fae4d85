"""``citygw broker acl``: the broker's access list for a deployment, from its daemons' configs.

Each ``--core``/``--agi``/``--ami``/``--video`` names the configuration file a host runs that
daemon with; the ACL gives each daemon its own user (``<daemon>-<instance>``) and only
its own topics (`gateway.mqtt_acl`). Written for Mosquitto's ``acl_file``
(docs/deploy.md, "MQTT security").
"""

from __future__ import annotations

from pathlib import Path

import click

#: what operators read from this command (Chinese, one table)
MESSAGES = {
    "unreadable": "无法读取配置 {path}：{reason}",
    "refused": "访问控制表无法生成：{reason}",
    "user_differs": (
        "{path}：mqtt.username 为 {actual}，但该守护进程在代理上的用户应为 {expected}"
        "（代理按用户授权主题）"
    ),
    "roots_differ": "各配置的 mqtt.topic_root 不一致：{roots}",
    "none": "未给出任何配置：用 --core、--agi、--video 指定各守护进程的配置文件",
    "written": "已写入访问控制表 {path}：{count} 个代理用户",
}


def register(cli: click.Group) -> None:
    @cli.group("broker")
    def broker() -> None:
        """MQTT broker security: the access list derived from the contract."""

    path_type = click.Path(exists=True, dir_okay=False, path_type=Path)

    @broker.command("acl")
    @click.option("--core", "cores", multiple=True, type=path_type, help="a core's config")
    @click.option("--agi", "agis", multiple=True, type=path_type, help="a telephony gateway's")
    @click.option("--ami", "amis", multiple=True, type=path_type, help="a hotline AMI side's")
    @click.option("--video", "videos", multiple=True, type=path_type, help="a video gateway's")
    @click.option("--observer", "observers", multiple=True, help="a read-only user (operations)")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
    def acl(
        cores: tuple[Path, ...],
        agis: tuple[Path, ...],
        amis: tuple[Path, ...],
        videos: tuple[Path, ...],
        observers: tuple[str, ...],
        output: Path | None,
    ) -> None:
        """Write Mosquitto's acl_file for these daemons (stdout without --output)."""
        from adapters.mqtt.broker_security import acl_text
        from gateway.config import ConfigError, load_config
        from gateway.contract import Topics
        from gateway.mqtt_acl import (
            AMI,
            CORE,
            TELEPHONY,
            VIDEO,
            Grant,
            grant_for,
            observer_grant,
        )

        wanted = [(CORE, p) for p in cores] + [(TELEPHONY, p) for p in agis]
        wanted += [(AMI, p) for p in amis]
        wanted += [(VIDEO, p) for p in videos]
        if not wanted:
            raise click.ClickException(MESSAGES["none"])
        grants: list[Grant] = []
        roots: set[str] = set()
        for daemon, path in wanted:
            try:
                config = load_config(path)
            except (ConfigError, OSError) as exc:
                raise click.ClickException(
                    MESSAGES["unreadable"].format(path=path, reason=exc)
                ) from exc
            grant = grant_for(config, daemon)
            actual = config.mqtt.username
            if actual is not None and actual != grant.username:
                raise click.ClickException(
                    MESSAGES["user_differs"].format(
                        path=path, actual=actual, expected=grant.username
                    )
                )
            roots.add(config.mqtt.topic_root)
            grants.append(grant)
        if len(roots) > 1:
            raise click.ClickException(MESSAGES["roots_differ"].format(roots=sorted(roots)))
        topics = Topics(roots.pop())
        try:
            grants += [observer_grant(topics, name) for name in observers]
            text = acl_text(grants)
        except ValueError as exc:
            raise click.ClickException(MESSAGES["refused"].format(reason=exc)) from exc
        if output is None:
            click.echo(text, nl=False)
            return
        output.write_text(text)
        click.echo(MESSAGES["written"].format(path=output, count=len(grants)), err=True)
