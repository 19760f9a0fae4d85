"""The demo on embedded defaults (the README's first command runs this).

Starts a local Mosquitto on a free loopback port, the core consumer (printing each
candidate it stores), and sends a few sample candidates through the durable outbox, as
an edge gateway would. Ctrl-C stops everything. Later parts (telephony, video, console)
join here as they land.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

from adapters.mqtt.broker import MosquittoBroker, free_port
from gateway import bootstrap
from gateway.config import Config
from gateway.core.daemon import run_core


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="citygw-demo", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path("var/demo"), help="where the demo keeps its state"
    )
    parser.add_argument("--samples", type=int, default=3, help="sample candidates to send")
    parser.add_argument(
        "--exit-after", type=float, default=0.0, help="stop after N seconds (0 = until Ctrl-C)"
    )
    args = parser.parse_args(argv)

    port = free_port()
    config = Config.model_validate(
        {"instance": "demo", "state_dir": str(args.state_dir), "mqtt": {"port": port}}
    )
    bootstrap.setup_logging(config)
    broker = MosquittoBroker(args.state_dir / "mosquitto", port=port)
    broker.start()
    print(f"[demo] Mosquitto on 127.0.0.1:{port}", flush=True)
    with bootstrap.stop_on_signals() as stop:
        core = threading.Thread(
            target=run_core,
            args=(config, stop),
            kwargs={"echo": lambda line: print(f"[core] {line}", flush=True)},
            name="demo.core",
        )
        core.start()
        config_file = args.state_dir / "demo.yaml"
        config_file.write_text(
            f"instance: demo\nstate_dir: {args.state_dir}\nmqtt:\n  port: {port}\n"
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway",
                "-c",
                str(config_file),
                "dev",
                "send-candidates",
                "--count",
                str(args.samples),
            ],
            check=False,
        )
        print("[demo] running; Ctrl-C stops", flush=True)
        started = time.monotonic()
        while not stop.wait(0.5):
            if args.exit_after and time.monotonic() - started > args.exit_after:
                stop.set()
        core.join(15)
    broker.stop()
    print("[demo] stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
