"""Catching up on the hotline calls AMI could not show, from Asterisk's ``Master.csv``.

AMI buffers nothing: a call made while `citygw ami` is stopped or restarting leaves no
``Cdr`` event for it, but ``cdr_csv`` writes its CDR to disk
(``telephony.callbacks.cdr_csv``). At start and every ``poll_s``, `CdrCatchUp` reads
what the file gained since the last read (``adapters.asterisk.cdr_csv.read_step``) and
parses its rows in a thread of its own, never on the event loop, into the record an AMI
``Cdr`` makes, and hands each to `UnhandledCalls.consider`: hotline contexts only, the
``;1`` half of a Local channel left out, no record for a call the IVR handled, none for a
call already recorded (over AMI, or from an earlier read).

Where it got to (the file's device and inode, the byte offset and line, a hash of the
first bytes) is written durably to ``state_dir/telephony/cdr-csv.json`` after the rows
before it were handled, so a restart goes on from there; a rotated file is finished
first when it is still beside the new one, a truncated one is read again from its start.
A row that does not parse is logged with its line number and skipped; a row of a call
that ended more than ``max_age_s`` ago is not recorded (a first read of a long file, or a
lost position, must not take old IVR calls, forgotten by now, for unhandled ones).
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.asterisk.cdr_csv import (
    CdrRowError,
    CsvLayout,
    CsvPosition,
    CsvStep,
    local_time,
    parse_row,
    read_step,
)
from gateway.clock import Clock
from gateway.durable_file import set_aside, write_durably
from gateway.telephony.callback_settings import CdrCsvSettings
from gateway.telephony.unhandled_calls import CdrRecord, Outcome, UnhandledCalls, cdr_record

log = logging.getLogger(__name__)


class State(Enum):
    STOPPED = "stopped"
    READING = "reading"
    UP_TO_DATE = "up_to_date"
    MISSING = "missing"  # no file at the path (yet): nothing written, or not mounted
    UNREADABLE = "unreadable"  # there, but reading it fails (permissions, I/O)
    HELD = "held"  # the outbox refused a record: the rows from it are read again later


class CdrCatchUp:
    def __init__(
        self,
        settings: CdrCsvSettings,
        *,
        calls: UnhandledCalls,
        position_file: Path,
        zone: ZoneInfo,
        clock: Clock,
    ) -> None:
        if settings.path is None:
            raise ValueError("cdr_csv.path is not set")
        self.path = settings.path
        self._settings = settings
        self._layout = CsvLayout(
            loguserfield=settings.loguserfield,
            newcdrcolumns=settings.newcdrcolumns,
            usegmtime=settings.usegmtime,
        )
        self._calls = calls
        self._position_file = position_file
        self._zone = zone
        self._clock = clock
        self._position: CsvPosition | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.state = State.STOPPED
        self.counts = {"rows": 0, "malformed": 0, "too_old": 0, **{o.value: 0 for o in Outcome}}

    def _set_state(self, state: State, why: str = "") -> None:
        if state is not self.state:
            level = logging.WARNING if state in (State.UNREADABLE, State.HELD) else logging.INFO
            log.log(
                level,
                "cdr csv %s: %s -> %s%s",
                self.path,
                self.state.value,
                state.value,
                f" ({why})" if why else "",
            )
            self.state = state

    def health(self) -> dict[str, Any]:
        position = self._position
        return {
            "state": self.state.value,
            "file": str(self.path),
            "line": position.line if position else 0,
            **self.counts,
        }

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Read until cancelled: at once, then every ``poll_s`` (at once while more waits)."""
        try:
            self._position = await self._in_thread(self._load_position)
            while True:
                try:
                    more = await self.step()
                except Exception:  # a bug or the store failing: the callbacks go on
                    log.exception("cdr csv %s: reading stopped; tried again later", self.path)
                    more = False
                if not more:
                    await asyncio.sleep(self._settings.poll_s)
        finally:
            self._set_state(State.STOPPED)
            self.close()

    def close(self) -> None:
        """Let the reading thread go (a read stuck on a dead mount is not waited for)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def step(self) -> bool:
        """One read and its rows; True when more is waiting to be read at once."""
        try:
            step: CsvStep = await self._in_thread(
                read_step, self.path, self._position, self._settings.max_read_bytes
            )
        except OSError as exc:
            self._set_state(State.UNREADABLE, f"{type(exc).__name__}: {exc}")
            return False
        if step.event == "missing":
            self._set_state(State.MISSING, "no such file")
            return False
        if step.event is not None:
            log.info(
                "cdr csv %s was %s: reading the new file from its start", self.path, step.event
            )
        self._set_state(State.READING)
        wanted: list[CdrRecord] = await self._in_thread(self._wanted, step)  # CPU, off the loop
        if wanted:
            await asyncio.sleep(self._grace_left(wanted))  # the IVR publishes after hangup too
            await self._calls.heard()  # and its candidates reach us over MQTT
        for record in wanted:
            outcome = self._calls.consider(record, origin="csv")
            self.counts[outcome.value] += 1
            if outcome is Outcome.REFUSED:
                self._set_state(State.HELD, f"the record of {record.uniqueid} was refused")
                return False
        if step.position is not None and step.position != self._position:
            self._position = step.position
            try:
                await self._in_thread(self._save_position, step.position)
            except OSError:
                log.exception("cdr csv position not saved to %s", self._position_file)
        if not step.more:
            self._set_state(State.UP_TO_DATE)
        return step.more

    def _wanted(self, step: CsvStep) -> list[CdrRecord]:
        wanted: list[CdrRecord] = []
        oldest = self._clock.now() - timedelta(seconds=self._settings.max_age_s)
        for line in step.records:
            self.counts["rows"] += 1
            try:
                fields = parse_row(line.text, self._layout, self._zone)
            except CdrRowError as exc:
                self.counts["malformed"] += 1
                log.warning("cdr csv %s line %d: %s; row skipped", step.file, line.line, exc)
                continue
            record = cdr_record(fields)
            if record is None or not self._calls.wanted(record):
                self.counts[Outcome.NOT_HOTLINE.value] += 1
                continue
            ended = local_time(record.end or record.start, self._zone)
            if ended is not None and ended < oldest:
                self.counts["too_old"] += 1
                continue
            wanted.append(record)
        return wanted

    def _grace_left(self, records: list[CdrRecord]) -> float:
        ends = [local_time(r.end or r.start, self._zone) for r in records]
        if any(end is None for end in ends):
            return self._calls.grace_s
        latest = max(end for end in ends if end is not None)
        waited = (self._clock.now() - latest).total_seconds()
        return max(0.0, min(self._calls.grace_s, self._calls.grace_s - waited))

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="ami.cdr-csv")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # ------------------------------------------------------------------ the position

    def _load_position(self) -> CsvPosition | None:
        try:
            data = json.loads(self._position_file.read_bytes())
            if data.get("path") != str(self.path):
                log.info("cdr csv: the path changed, %s is read from its start", self.path)
                return None
            return CsvPosition.from_json(data.get("position"))
        except FileNotFoundError:
            log.info("cdr csv: no position yet, %s is read from its start", self.path)
            return None
        except (OSError, ValueError, AttributeError) as exc:
            broken = set_aside(self._position_file)
            log.error(
                "cdr csv position %s unreadable (%s), set aside as %s: %s is read from its start"
                " (rows older than %g s are not recorded)",
                self._position_file,
                exc,
                broken,
                self.path,
                self._settings.max_age_s,
            )
            return None

    def _save_position(self, position: CsvPosition) -> None:
        data = {"path": str(self.path), "position": position.to_json()}
        write_durably(self._position_file, json.dumps(data).encode())
