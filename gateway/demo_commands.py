"""Developer tools: a local broker, sample candidates. Not needed in production."""

from __future__ import annotations

import time
from pathlib import Path

import click

from gateway.cli_texts import MESSAGES


def register(cli: click.Group) -> None:
    from gateway.cli import CliContext, pass_cli

    @cli.group("dev")
    def dev() -> None:
        """Developer and demo tools (local broker, test camera, sample messages)."""

    from gateway.video.commands import test_camera_command

    dev.add_command(test_camera_command(), "camera")

    @dev.command("broker")
    @click.option("--port", type=int, default=None, help="port (default: the configured mqtt.port)")
    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
    @pass_cli
    def broker(ctx: CliContext, port: int | None, data_dir: Path | None) -> None:
        """Run a local Mosquitto on loopback until Ctrl-C."""
        from adapters.mqtt.broker import MosquittoBroker
        from gateway import bootstrap

        config = ctx.config
        bootstrap.setup_logging(config)
        mosquitto = MosquittoBroker(
            data_dir or config.state_dir / "mosquitto", port=port or config.mqtt.port
        )
        mosquitto.start()
        click.echo(
            MESSAGES["broker_listening"].format(
                host=mosquitto.host, port=mosquitto.port, log=mosquitto.log_file
            )
        )
        with bootstrap.stop_on_signals() as stop:
            while not stop.wait(0.5):
                if not mosquitto.running:
                    raise click.ClickException(
                        MESSAGES["broker_stopped"].format(log=mosquitto.log_file)
                    )
        mosquitto.stop()

    @dev.command("send-candidates")
    @click.option("--count", type=int, default=3, show_default=True)
    @click.option("--event-code", default="0505", show_default=True, help="CJ/T 214 event code")
    @click.option(
        "--grid-code",
        default="32070600200101",
        show_default=True,
        help="unit grid of the candidates (default: one of the GIS demo area of 海州区)",
    )
    @click.option("--source-id", default="demo-cam-1", show_default=True)
    @click.option("--wait/--no-wait", default=True, help="wait until the broker acknowledged all")
    @pass_cli
    def send_candidates(
        ctx: CliContext, count: int, event_code: str, grid_code: str, source_id: str, wait: bool
    ) -> None:
        """Publish sample camera candidates through this machine's durable outbox."""
        from gateway import bootstrap
        from gateway.contract import (
            CandidateCase,
            Evidence,
            EvidenceRole,
            Location,
            Source,
            SourceKind,
        )

        config = ctx.config
        bootstrap.setup_logging(config)
        connection = bootstrap.mqtt_connection(config, "dev")
        publisher = bootstrap.edge_publisher(config, "dev", connection)
        contract = bootstrap.contract_publisher(config, publisher)
        publisher.start()
        source = Source(kind=SourceKind.CAMERA, id=source_id)
        for index in range(count):
            snapshot = f"sample snapshot {index} {time.time()}".encode()
            candidate = CandidateCase.create(
                source=source,
                event_code=event_code,
                title="机动车乱停放 (sample)",
                location=Location(grid_code=grid_code, camera_id=source_id, zone_id="zone-a"),
                evidence=[
                    Evidence.from_bytes(
                        snapshot, media_type="image/jpeg", role=EvidenceRole.SNAPSHOT
                    )
                ],
                facts={"sample": True, "index": index},
            )
            contract.candidate(candidate)
            click.echo(MESSAGES["candidate_queued"].format(id=candidate.id))
        if wait and not publisher.wait_drained(30):
            left = publisher.outbox.queued_messages
            click.echo(MESSAGES["candidates_left"].format(count=left), err=True)
        publisher.stop()
        connection.stop()
        publisher.outbox.close()
