"""A producer process for the fault test: queues candidates ``fault-00000``..``fault-NNNNN``.

Run as ``python -m tests.foundation.fault_producer CONFIG TOTAL PROGRESS_FILE``. After each
candidate is in the outbox it records the index in PROGRESS_FILE; a restarted producer
resumes after the last recorded index (one candidate may be queued twice: same id).
It exits once everything it queued has been acknowledged by the broker.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gateway import bootstrap
from gateway.config import load_config
from gateway.contract import CandidateCase, Location, Source, SourceKind


def main() -> int:
    config = load_config(sys.argv[1])
    total = int(sys.argv[2])
    progress = Path(sys.argv[3])
    rate = float(os.environ.get("FAULT_RATE", "1500"))
    start = (
        int(progress.read_text()) + 1 if progress.exists() and progress.read_text().strip() else 0
    )
    connection = bootstrap.mqtt_connection(config, "faultgen")
    publisher = bootstrap.edge_publisher(config, "faultgen", connection)
    contract = bootstrap.contract_publisher(config, publisher)
    publisher.start()
    source = Source(kind=SourceKind.CAMERA, id="faultcam")
    began = time.monotonic()
    for index in range(start, total):
        candidate = CandidateCase.create(
            source=source,
            id=f"fault-{index:05d}",
            event_code="0505",
            location=Location(grid_code="32070390100101", camera_id="faultcam"),
            facts={"index": index},
        )
        contract.candidate(candidate)
        temporary = progress.with_suffix(".tmp")
        temporary.write_text(str(index))
        temporary.replace(progress)
        ahead = (index - start + 1) / rate - (time.monotonic() - began)
        if ahead > 0:
            time.sleep(ahead)
    print("queued all", flush=True)
    while not publisher.wait_drained(1.0):
        pass
    print("drained", flush=True)
    publisher.stop()
    connection.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
