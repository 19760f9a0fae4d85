"""`citygw core`: the core's process. For now the candidate consumer (foundation).

It subscribes to every candidate topic on a persistent session, stores each candidate
exactly once by id, prints one line per candidate, and sends what breaks the contract
to the dead-letter topic. The six-step workflow builds on this.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from adapters.storage.candidate_inbox import SqliteCandidateInbox
from gateway import bootstrap
from gateway.config import Config, resolve_state_path
from gateway.contract import CandidateCase
from gateway.ingest import CandidateIngest

log = logging.getLogger(__name__)


def describe(candidate: CandidateCase, new: bool) -> str:
    where = (
        candidate.location.grid_code
        or candidate.location.camera_id
        or candidate.location.address
        or "?"
    )
    flag = "new" if new else "duplicate"
    return (
        f"{candidate.ts:%Y-%m-%d %H:%M:%S}Z candidate {candidate.id} [{flag}] from "
        f"{candidate.source.kind}/{candidate.source.id}: event {candidate.event_code} at {where}"
        f"{' PARTIAL' if candidate.partial else ''}{' URGENT' if candidate.urgent else ''}"
        f" ({len(candidate.evidence)} evidence)"
    )


def run_core(
    config: Config, stop: threading.Event, *, echo: Callable[[str], None] | None = None
) -> None:
    inbox_path = resolve_state_path(config, Path("core-inbox.sqlite3"))
    store = SqliteCandidateInbox(inbox_path)
    connection = bootstrap.mqtt_connection(config, "core", manual_ack=True)
    publisher = bootstrap.edge_publisher(config, "core", connection)
    contract = bootstrap.contract_publisher(config, publisher)

    def on_stored(candidate: CandidateCase, new: bool) -> None:
        if echo is not None:
            echo(describe(candidate, new))

    ingest = CandidateIngest(
        store,
        contract,
        bootstrap.daemon_source(config, "core"),
        max_batch=config.core.ingest_batch,
        max_payload_bytes=config.mqtt.max_payload_bytes,
        on_stored=on_stored,
    )
    connection.subscribe(contract.topics.all_candidates, ingest.submit, qos=1)
    ingest.start()
    publisher.start()
    log.info(
        "core consumer listening on %s at %s:%d; inbox %s",
        contract.topics.all_candidates,
        config.mqtt.host,
        config.mqtt.port,
        inbox_path,
    )
    try:
        stop.wait()
    finally:
        connection.stop()
        ingest.stop()
        publisher.stop()
        publisher.outbox.close()
        store.close()
