"""The ``citygw`` command: one entry point, subcommands per daemon and tool.

Each daemon package may contribute its own commands (``gateway/<pkg>/commands.py``
exposing ``register(group)``); this module only gathers them. Heavy imports happen
inside the commands, so ``citygw --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from gateway import __version__
from gateway.cli_texts import MESSAGES, config_error
from gateway.config import Config, ConfigError, load_config

log = logging.getLogger("citygw")

_COMMAND_MODULES = (
    "gateway.core.commands",
    "gateway.telephony.commands",
    "gateway.video.commands",
    "gateway.video.analysis.commands",
    "gateway.demo_commands",
    "gateway.broker_commands",
    "gateway.gis.commands",
)


class CliContext:
    def __init__(self, config_path: Path | None, log_format: str | None = None) -> None:
        self.config_path = config_path
        self.log_format = log_format
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                click.echo(config_error(exc), err=True)
                sys.exit(2)
            if self.log_format is not None:
                logging_config = self._config.logging.model_copy(update={"format": self.log_format})
                self._config = self._config.model_copy(update={"logging": logging_config})
        return self._config


pass_cli = click.make_pass_decorator(CliContext)


class CitygwGroup(click.Group):
    """The ``citygw`` group: click's own frame of an error (``Error: ``, ``Invalid value
    for``, ``Try … for help.``, ``Aborted!``) reads Chinese as the commands' messages do."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            _show_error(exc)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(MESSAGES["aborted"], err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _show_error(exc: click.ClickException) -> None:
    if type(exc).show not in (click.ClickException.show, click.UsageError.show):
        exc.show()  # one that shows itself its own way: a bare group's help
        return
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        ctx = exc.ctx
        click.echo(ctx.get_usage(), err=True, color=ctx.color)
        if ctx.command.get_help_option(ctx) is not None:
            hint = MESSAGES["help_hint"].format(
                command=ctx.command_path, option=ctx.help_option_names[0]
            )
            click.echo(hint + "\n", err=True, color=ctx.color)
    click.echo(MESSAGES["error"].format(message=_error_message(exc)), err=True)


def _error_message(exc: click.ClickException) -> str:
    """Our words around the reason where click frames it (a bad value, a missing one)."""
    if not isinstance(exc, click.BadParameter) or type(exc) not in (
        click.BadParameter,
        click.MissingParameter,
    ):
        return exc.format_message()
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint(exc.ctx)  # type: ignore[arg-type]
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(h) for h in hint)
    if isinstance(exc, click.MissingParameter):
        return MESSAGES["missing_value"].format(param=hint) if hint else exc.format_message()
    if hint is None:
        return exc.message  # ours, raised in a command's body: it says what is wrong
    return MESSAGES["bad_value_of"].format(param=hint, reason=exc.message)


@click.group(cls=CitygwGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CITYGW_CONFIG",
    default=None,
    help="configuration file (default: embedded defaults; env CITYGW_CONFIG)",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="log lines as text or one JSON object each (default: logging.format, else text)",
)
@click.version_option(__version__, prog_name="citygw")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_format: str | None) -> None:
    """citygw: edge gateway of the digital city-management centre."""
    ctx.obj = CliContext(config_path, log_format)


@cli.group("config")
def config_group() -> None:
    """Check configuration files."""


@config_group.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE; print every error with its key path and line; exit 1 if any."""
    try:
        config = load_config(file)
    except ConfigError as exc:
        click.echo(config_error(exc), err=True)
        sys.exit(1)
    click.echo(
        MESSAGES["config_ok"].format(
            file=file, instance=config.instance, host=config.mqtt.host, port=config.mqtt.port
        )
    )


def _register_subcommands() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(cli)


_register_subcommands()


def main() -> None:
    cli(prog_name="citygw")
