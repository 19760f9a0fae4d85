"""A throw-away PostgreSQL server (Debian's postgresql 15): for tests and benchmarks.

`initdb` + `pg_ctl` on a free loopback port with a data folder of its own. PostgreSQL
refuses to run as root, so when we are root it runs as the ``postgres`` user (via
``runuser``) in a folder that user owns. Production points ``core.database_url`` at a
real server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from adapters.mqtt.broker import free_port


def find_pg_bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found is None:
        raise FileNotFoundError("PostgreSQL not found: apt-get install postgresql")
    return Path(found).parent


class PostgresServer:
    """One postgres cluster; ``start()`` returns once it accepts connections."""

    def __init__(
        self, *, port: int | None = None, user: str = "postgres", durable_commits: bool = False
    ) -> None:
        """``durable_commits``: a commit is in the WAL (written, not fsynced) when it returns,
        so it survives the server crashing (`restart("immediate")`); off, for speed, a
        crash may lose the last fraction of a second of commits."""
        self.port = port or free_port()
        self._synchronous_commit = "on" if durable_commits else "off"
        self.host = "127.0.0.1"
        self.bin = find_pg_bin()
        self._as_root = os.geteuid() == 0
        self._run_user = user
        self.root = Path(tempfile.mkdtemp(prefix="citygw-pg-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self._started = False

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self._run_user, "--"] if self._as_root else []
        return [*prefix, *args]

    def start(self, timeout_s: int = 60) -> None:
        if self._started:
            return
        if self._as_root:
            shutil.chown(self.root, self._run_user, self._run_user)
        if not self.data_dir.exists():
            subprocess.run(
                self._cmd(
                    str(self.bin / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", "postgres",
                    "-A", "trust",
                    "-E", "UTF8",
                    "--locale=C",
                    "--no-sync",
                ),
                check=True,
                capture_output=True,
                timeout=timeout_s,
            )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={self.host} "
            f"-c fsync=off -c synchronous_commit={self._synchronous_commit} "
            "-c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            self._cmd(
                str(self.bin / "pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_file),
                "-o", options,
                "-w", "-t", str(timeout_s),
                "start",
            ),
            check=True,
            capture_output=True,
            timeout=timeout_s + 10,
        )  # fmt: skip
        self._started = True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def halt(self, mode: str = "immediate") -> None:
        """Stop the server and keep its data: ``immediate`` is a crash (recovery on the next
        start), ``fast`` a clean shutdown that ends every session."""
        if self._started:
            subprocess.run(
                self._cmd(
                    str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"
                ),
                check=False,
                capture_output=True,
                timeout=60,
            )
            self._started = False

    def stop(self) -> None:
        """Stop the server and delete its data."""
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)
