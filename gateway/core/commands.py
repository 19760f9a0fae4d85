"""CLI commands of the core workflow service."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    from gateway.cli import CliContext, pass_cli

    @cli.command("core")
    @click.option("--quiet", is_flag=True, help="do not print a line per candidate received")
    @pass_cli
    def core(ctx: CliContext, quiet: bool) -> None:
        """Run the core: consume candidate cases from MQTT and store each exactly once."""
        from gateway import bootstrap
        from gateway.core.daemon import run_core

        config = ctx.config
        bootstrap.setup_logging(config)
        with bootstrap.stop_on_signals() as stop:
            run_core(config, stop, echo=None if quiet else lambda line: click.echo(line, nl=True))
