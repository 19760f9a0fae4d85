"""CLI commands of the telephony gateway: ``citygw agi``, ``citygw ami``,
``citygw prompts build|check``."""

from __future__ import annotations

import sys

import click

from gateway.cli_texts import MESSAGES, NONE, missing_prompts


def register(cli: click.Group) -> None:
    from gateway.cli import CliContext, pass_cli

    @cli.command("agi")
    @pass_cli
    def agi(ctx: CliContext) -> None:
        """Run the FastAGI server of the 12319 hotline IVR until Ctrl-C."""
        from gateway import bootstrap
        from gateway.telephony.daemon import AgiRuntime, PromptsMissing, run_agi

        config = ctx.config
        bootstrap.setup_logging(config)

        def ready(runtime: AgiRuntime) -> None:
            url = (
                f"agi://{runtime.server.host}:{runtime.server.port}/"
                f"{config.telephony.script}?lang=zh"
            )
            click.echo(MESSAGES["agi_listening"].format(url=url))

        with bootstrap.stop_on_signals() as stop:
            try:
                run_agi(config, stop, ready=ready)
            except PromptsMissing as exc:
                click.echo(missing_prompts(exc.missing), err=True)
                sys.exit(1)

    @cli.command("ami")
    @click.option(
        "--is-enabled",
        "is_enabled",
        is_flag=True,
        help="only say whether it would run: exit 0 when telephony.callbacks.enabled, 1 when"
        " not (systemd's ExecCondition: a host without AMI skips the unit, not fails it)",
    )
    @pass_cli
    def ami(ctx: CliContext, is_enabled: bool) -> None:
        """Run the hotline's AMI side until Ctrl-C: callbacks, call records of calls the IVR
        never took, the agent's screen pop and the queue figures (apart from `citygw agi`)."""
        from gateway import bootstrap
        from gateway.telephony.ami_daemon import AmiOff, AmiRuntime, run_ami

        config = ctx.config
        if is_enabled:
            enabled = config.telephony.callbacks.enabled
            click.echo(MESSAGES["ami_enabled" if enabled else "ami_off"], err=not enabled)
            sys.exit(0 if enabled else 1)
        bootstrap.setup_logging(config)
        settings = config.telephony.callbacks.ami

        def ready(_runtime: AmiRuntime) -> None:
            click.echo(MESSAGES["ami_running"].format(host=settings.host, port=settings.port))

        with bootstrap.stop_on_signals() as stop:
            try:
                run_ami(config, stop, ready=ready)
            except AmiOff:
                click.echo(MESSAGES["ami_off"], err=True)
                sys.exit(1)

    @cli.command("agi-call")
    @click.option("--host", default=None, help="gateway address (default: telephony.listen_host)")
    @click.option("--port", type=int, default=None, help="gateway port (default: listen_port)")
    @click.option("--category", default="2", show_default=True, help="category key to press")
    @click.option("--district", default="1", show_default=True, help="district key to press")
    @click.option("--caller", default="13800138000", show_default=True, help="caller id")
    @click.option(
        "--hangup-at", type=int, default=None, help="hang up during this command (1-based)"
    )
    @pass_cli
    def agi_call(
        ctx: CliContext,
        host: str | None,
        port: int | None,
        category: str,
        district: str,
        caller: str,
        hangup_at: int | None,
    ) -> None:
        """Place one scripted report call against a running `citygw agi` (fake Asterisk).

        For the demo and for checking an installation: it speaks FastAGI as Asterisk 22
        does, writes its "voice" recordings where the gateway asks, and prints the call.
        """
        from adapters.asterisk.fake_asterisk import CallOptions, place_call, report_call

        settings = ctx.config.telephony
        options = CallOptions(
            script=settings.script,
            host=host or settings.listen_host,
            port=port or settings.listen_port,
            caller_number=caller,
            hangup_at_command=hangup_at,
        )
        try:
            result = place_call(report_call(category, district), options, timeout_s=60)
        except OSError as exc:
            click.echo(MESSAGES["agi_unreachable"].format(reason=exc), err=True)
            sys.exit(1)
        for exchange in result.exchanges:
            replies = b"".join(exchange.replies).decode("utf-8", errors="replace").strip()
            click.echo(f">> {exchange.command}\n<< {replies}")
        number = result.variables.get("CITYGW_CASE_NUMBER", "")
        outcome = result.variables.get("CITYGW_RESULT", "") or NONE
        click.echo(MESSAGES["call_ended"].format(outcome=outcome, number=number or NONE))

    @cli.group("prompts")
    def prompts() -> None:
        """The IVR's Mandarin prompts (espeak-ng + sox)."""

    @prompts.command("build")
    @click.option("--force", is_flag=True, help="rebuild prompts whose text did not change too")
    @pass_cli
    def build(ctx: CliContext, force: bool) -> None:
        """Generate every prompt the menu uses into telephony.sounds_dir (8 kHz mono WAV)."""
        from gateway.telephony.prompt_build import PromptBuildError, build_prompts

        settings = ctx.config.telephony
        click.echo(MESSAGES["prompts_building"].format(path=settings.sounds_dir))

        def progress(index, total, prompt, made) -> None:  # type: ignore[no-untyped-def]
            what = MESSAGES["prompt_built"] if made else MESSAGES["prompt_kept"]
            line = MESSAGES["prompt_line"].format(
                index=index, total=total, name=prompt.name, what=what, text=prompt.text[:40]
            )
            click.echo(line)

        try:
            result = build_prompts(settings, force=force, progress=progress)
        except (PromptBuildError, OSError) as exc:
            click.echo(MESSAGES["prompts_failed"].format(reason=exc), err=True)
            sys.exit(1)
        click.echo(MESSAGES["prompts_done"].format(built=len(result.built), kept=len(result.kept)))

    @prompts.command("check")
    @pass_cli
    def check(ctx: CliContext) -> None:
        """Exit 1, naming each file, if a prompt the menu needs is missing."""
        from gateway.telephony.prompts import missing_prompts, prompt_files

        settings = ctx.config.telephony
        missing = missing_prompts(settings)
        for path in missing:
            click.echo(MESSAGES["prompt_missing"].format(path=path), err=True)
        if missing:
            sys.exit(1)
        present = len(prompt_files(settings))
        click.echo(MESSAGES["prompts_present"].format(count=present, path=settings.sounds_dir))
