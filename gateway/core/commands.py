"""CLI commands of the core workflow service: ``citygw core`` and its tools."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gateway.cli_texts import MESSAGES, user_error


def register(cli: click.Group) -> None:
    from gateway.cli import CliContext, pass_cli

    @cli.group("core", invoke_without_command=True)
    @click.option("--quiet", is_flag=True, help="do not print a line per candidate received")
    @click.pass_context
    def core(click_ctx: click.Context, quiet: bool) -> None:
        """Run the core (ingest, workflow, API); subcommands are its tools."""
        if click_ctx.invoked_subcommand is not None:
            return
        from gateway import bootstrap
        from gateway.core.daemon import run_core

        config = click_ctx.find_object(CliContext).config  # type: ignore[union-attr]
        bootstrap.setup_logging(config)
        with bootstrap.stop_on_signals() as stop:
            run_core(config, stop, echo=None if quiet else lambda line: click.echo(line, nl=True))

    @core.command("migrate")
    @pass_cli
    def migrate(ctx: CliContext) -> None:
        """Create or upgrade the core's database schema (also done at start-up)."""
        from adapters.storage.database import migrate as run_migrations
        from adapters.storage.database import open_engine
        from gateway.core.daemon import database_url

        url = database_url(ctx.config)
        engine = open_engine(url, timeout_s=ctx.config.core.db_timeout_s)
        run_migrations(engine)
        engine.dispose()
        click.echo(
            MESSAGES["db_current"].format(url=engine.url.render_as_string(hide_password=True))
        )

    @core.command("add-user")
    @click.argument("name")
    @click.option(
        "--role",
        required=True,
        type=click.Choice(
            ["inspector", "operator", "shift_lead", "dispatcher", "department", "admin"]
        ),
    )
    @click.option("--department", default=None, help="department id (department users only)")
    @click.option(
        "--grid",
        "grids",
        multiple=True,
        help="a unit grid code or code prefix the inspector covers (repeat; inspectors only)",
    )
    @click.option(
        "--node",
        default=None,
        metavar="ID",
        help="the user's centre in the organisation tree: a district id (320706) for a "
        "district centre's desk, also a street or community id for an inspector; default: "
        "the city centre (a department user sits at its department's)",
    )
    @click.option(
        "--password-env",
        default="CITYGW_PASSWORD",
        show_default=True,
        help="environment variable holding the password (else it is asked for)",
    )
    @pass_cli
    def add_user(
        ctx: CliContext,
        name: str,
        role: str,
        department: str | None,
        grids: tuple[str, ...],
        node: str | None,
        password_env: str,
    ) -> None:
        """Create an API user, or replace an existing one's role, department, grids, centre
        and password (and end their sessions); the password is hashed (scrypt)."""
        from gateway.core.auth import UserError
        from gateway.core.daemon import build_service
        from gateway.core.organisation import Organisation

        config = ctx.config.core
        # the tree the core runs with (gateway.core.daemon.build_service)
        org = Organisation.from_config(
            config.organisation, {d.id: d.name for d in config.departments}
        )
        unit = org.get(node)
        if node is not None and unit is None:
            click.echo(MESSAGES["user_node"].format(node=node), err=True)
            sys.exit(2)
        password = os.environ.get(password_env) or click.prompt(
            MESSAGES["password"], hide_input=True, confirmation_prompt=MESSAGES["password_again"]
        )
        service, auth = build_service(ctx.config)
        try:
            auth.add_user(name, role, password, department, grids, node)
        except UserError as exc:
            reason = user_error(exc.kind, exc.params, str(exc))
            click.echo(MESSAGES["user_refused"].format(reason=reason), err=True)
            sys.exit(1)
        finally:
            service.store.close()  # type: ignore[attr-defined]
        if department:
            saved = MESSAGES["user_saved_department"].format(
                name=name, role=role, department=department
            )
        elif unit is not None and unit.id != org.city.id:
            saved = MESSAGES["user_saved_node"].format(name=name, role=role, node=unit.name)
        else:
            saved = MESSAGES["user_saved"].format(name=name, role=role)
        click.echo(saved)

    @core.command("report")
    @click.argument("period")
    @click.option(
        "--format",
        "file_format",
        type=click.Choice(["xlsx", "html", "pdf", "json"]),
        default=None,
        help="default: from the --out file's suffix",
    )
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
    @click.option(
        "--node",
        default=None,
        metavar="ID",
        help="the report of this unit of the organisation tree, as the API's node=: a "
        "district or street id (its cases, ranking its streets and departments or its "
        "communities); default: the city's",
    )
    @pass_cli
    def report(
        ctx: CliContext, period: str, file_format: str | None, out: Path, node: str | None
    ) -> None:
        """Write the evaluation report of PERIOD: a month (2026-11), a quarter (2026-Q4) or
        a day (2026-11-30); the same figures as ``core metrics`` for that period (its
        rankings: ``core metrics --level`` of the city, or of --node)."""
        from zoneinfo import ZoneInfo

        from adapters.reports import ReportFileWriter
        from gateway.clock import utc_now
        from gateway.core.codes import load_event_names
        from gateway.core.daemon import build_service
        from gateway.core.metrics import CaseHistories
        from gateway.core.organisation import NodeKind, Organisation
        from gateway.core.publication import ReportUnavailable, parse_period, unit_report
        from gateway.core.publication_routes import report_json
        from gateway.core.report_html import report_page

        chosen_format = file_format or out.suffix.lstrip(".").lower()
        if chosen_format not in ("xlsx", "html", "pdf", "json"):
            click.echo(MESSAGES["report_format"], err=True)
            sys.exit(2)
        config = ctx.config.core
        zone = ZoneInfo(config.calendar.timezone)
        try:
            chosen = parse_period(period, zone)
        except ValueError as exc:
            click.echo(MESSAGES["report_period"].format(reason=exc), err=True)
            sys.exit(2)
        departments = {d.id: d.name for d in config.departments}
        # the tree the core runs with (gateway.core.daemon.build_service)
        org = Organisation.from_config(config.organisation, departments)
        unit = org.get(node)
        evaluated = (NodeKind.CITY, NodeKind.DISTRICT, NodeKind.STREET)
        if node is not None and (unit is None or unit.kind not in evaluated):
            click.echo(MESSAGES["report_node"].format(node=node), err=True)
            sys.exit(2)
        service, _auth = build_service(ctx.config)
        try:
            steps = [s.step for s in service.store.all_steps(limit=100_000_000)]
        finally:
            service.store.close()  # type: ignore[attr-defined]
        made = unit_report(
            CaseHistories(steps),
            org,
            config.organisation,
            unit,
            chosen,
            config.metric_weights,
            departments,
            load_event_names(),
            zone,
            utc_now(),
        )
        files = ReportFileWriter()
        try:
            if chosen_format == "xlsx":
                body = files.workbook(made)
            elif chosen_format == "pdf":
                body = files.pdf(report_page(made, zone, inline_style=True))
            elif chosen_format == "json":
                body = report_json(made)
            else:
                body = report_page(made, zone, inline_style=True).encode("utf-8")
        except ReportUnavailable as exc:
            click.echo(MESSAGES["report_failed"].format(reason=exc), err=True)
            sys.exit(1)
        out.write_bytes(body)
        click.echo(
            MESSAGES["report_written"].format(
                period=f"{made.unit or ''}{chosen.label}",
                registered=made.total.registered,
                path=out,
            )
        )

    @core.command("metrics")
    @click.option("--start", required=True, type=click.DateTime(), help="period start (UTC)")
    @click.option("--end", required=True, type=click.DateTime(), help="period end (UTC)")
    @click.option(
        "--group-by",
        type=click.Choice(["none", "department", "district", "grid", "event_code"]),
        default="none",
    )
    @click.option(
        "--level",
        "node",
        default=None,
        metavar="NODE",
        help="三级考核: the units of this node instead of groups (city: districts and city "
        "departments; a district code: its streets and departments; a street code: its "
        "communities), with the level's weights",
    )
    @click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True, path_type=Path),
        default=None,
        help="write the CSV to this file, as UTF-8 with a byte-order mark so that Excel "
        "reads the Chinese (as the console's downloads); unset: print it, without one",
    )
    @pass_cli
    def metrics(
        ctx: CliContext,
        start: object,
        end: object,
        group_by: str,
        node: str | None,
        output: Path | None,
    ) -> None:
        """Print the evaluation metrics of a period as CSV (or write them to --output)."""
        from datetime import UTC, datetime

        from gateway.core.codes import load_event_names
        from gateway.core.daemon import build_service
        from gateway.core.metrics import evaluate, group_names, to_csv

        assert isinstance(start, datetime) and isinstance(end, datetime)
        service, _auth = build_service(ctx.config)
        try:
            steps = [s.step for s in service.store.all_steps(limit=100_000_000)]
            if node is not None:
                from gateway.core.org_evaluation import level_csv

                _put_csv(level_csv(ctx.config.core, steps, node, start, end), output)
                return
            groups = evaluate(
                steps,
                start.replace(tzinfo=UTC),
                end.replace(tzinfo=UTC),
                ctx.config.core.metric_weights,
                group_by,
            )
        except ValueError as exc:
            click.echo(MESSAGES["metrics_refused"].format(reason=exc), err=True)
            sys.exit(2)
        finally:
            service.store.close()  # type: ignore[attr-defined]
        departments = {d.id: d.name for d in ctx.config.core.departments}
        names = group_names(group_by, departments, load_event_names())
        _put_csv(to_csv(groups, group_by, names), output)


def _put_csv(text: str, output: Path | None) -> None:
    """The CSV on standard output as it is, or into ``output`` with a byte-order mark."""
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_bytes(text.encode("utf-8-sig"))
    rows = max(text.count("\n") - 1, 0)
    click.echo(MESSAGES["csv_written"].format(rows=rows, path=output))
