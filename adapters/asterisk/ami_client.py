"""A small asyncio AMI client: one connection, logged in, kept up with backoff.

``async with AmiClient(...) as ami:`` starts one supervisor task that connects, logs in,
waits for ``FullyBooted`` (Asterisk accepts logins while it still boots), then reads
frames until the connection ends, and starts again after a growing pause. A refused
login is a state (`AmiState.REFUSED`), retried at the longest pause, never an exception
out of the client.

Every request waits by id (`action`, `originate`): a pending future keyed by the
ActionID, raced against the connection's end (`AmiDisconnected`) and a timeout
(`AmiTimeout`). An async ``Originate`` first answers ``Originate successfully queued``;
`originate` then waits for the ``OriginateResponse`` event with the same ActionID.
Asterisk replays nothing after a reconnect: a call in flight when the connection dropped
has no known outcome (`AmiDisconnected` with ``queued=True``).

Listeners (`add_listener`) see every event, in the order received, on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from adapters.asterisk.ami_protocol import (
    AmiFrame,
    AmiProtocolError,
    FrameKind,
    FrameReader,
    encode_action,
)

log = logging.getLogger(__name__)

Listener = Callable[[AmiFrame], None]


class AmiState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"  # TCP connect and login under way
    BOOTING = "booting"  # logged in, waiting for FullyBooted
    READY = "ready"
    BACKOFF = "backoff"  # connection lost or refused: waiting before the next try
    REFUSED = "refused"  # the login was refused: waiting the longest pause


class AmiError(Exception):
    """An action answered ``Response: Error`` (``message`` is Asterisk's text)."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class AmiDisconnected(AmiError):
    """The connection ended before the answer came. ``queued``: an Originate was queued
    by Asterisk before that, so the call may exist (its outcome is unknown)."""

    def __init__(self, action: str, message: str = "connection lost", *, queued: bool = False):
        super().__init__(action, message)
        self.queued = queued


class AmiTimeout(AmiError):
    """No answer within the timeout."""


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        connect_timeout_s: float = 5.0,
        action_timeout_s: float = 10.0,
        boot_timeout_s: float = 5.0,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 60.0,
        ping_interval_s: float = 20.0,
        name: str = "ami",
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.connect_timeout_s = connect_timeout_s
        self.action_timeout_s = action_timeout_s
        self.boot_timeout_s = boot_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.ping_interval_s = ping_interval_s
        self.name = name
        self.state = AmiState.STOPPED
        self.last_error: str | None = None
        self.logins = 0
        self.connections_lost = 0
        self._listeners: list[Listener] = []
        self._state_listeners: list[Callable[[AmiState], None]] = []
        self._pending: dict[str, asyncio.Future[AmiFrame]] = {}
        self._originates: dict[str, asyncio.Future[AmiFrame]] = {}
        self._lists: dict[str, tuple[list[AmiFrame], asyncio.Future[AmiFrame]]] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"citygw-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self._writer: asyncio.StreamWriter | None = None
        self._write_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._booted = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AmiClient:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start(self) -> None:
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = asyncio.create_task(
                self._supervise(), name=f"{self.name}[{self.host}:{self.port}].supervisor"
            )

    async def stop(self) -> None:
        """Log off (briefly) if logged in, then end the connection and the supervisor."""
        self._stopping = True
        if self.ready:
            with contextlib.suppress(AmiError):
                await self.action("Logoff", timeout_s=min(1.0, self.action_timeout_s))
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_state(AmiState.STOPPED)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_state_listener(self, listener: Callable[[AmiState], None]) -> None:
        self._state_listeners.append(listener)

    @property
    def ready(self) -> bool:
        return self.state is AmiState.READY

    async def wait_ready(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        return self.ready

    def _set_state(self, state: AmiState) -> None:
        if state is self.state:
            return
        log.info("%s %s:%d: %s -> %s", self.name, self.host, self.port, self.state, state)
        self.state = state
        if state is AmiState.READY:
            self._ready.set()
        else:
            self._ready.clear()
        for listener in list(self._state_listeners):
            try:
                listener(state)
            except Exception:
                log.exception("%s: state listener failed", self.name)

    # ------------------------------------------------------------------ requests

    def next_action_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def action(
        self,
        action: str,
        fields: Mapping[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
        action_id: str | None = None,
        require_ready: bool = True,
    ) -> AmiFrame:
        """Send one action and return its response; raises `AmiError` on ``Response: Error``."""
        if require_ready and not self.ready:
            raise AmiDisconnected(action, f"not connected ({self.state})")
        aid = action_id or self.next_action_id()
        future: asyncio.Future[AmiFrame] = asyncio.get_running_loop().create_future()
        self._pending[aid] = future
        try:
            await self._send(encode_action(action, aid, fields), action)
            frame = await self._wait(future, action, timeout_s or self.action_timeout_s)
        finally:
            self._pending.pop(aid, None)
        if frame.get("Response") == "Error":
            raise AmiError(action, frame.get("Message") or "error")
        return frame

    async def originate(
        self,
        fields: Mapping[str, Any],
        *,
        timeout_s: float,
        action_id: str | None = None,
    ) -> AmiFrame:
        """An async Originate: the ``OriginateResponse`` event (Success or Failure).

        ``timeout_s`` bounds the wait for the event after Asterisk queued the call
        (the ring timeout plus a margin). `AmiDisconnected` with ``queued`` when the
        connection ended after the call was queued.
        """
        aid = action_id or self.next_action_id()
        result: asyncio.Future[AmiFrame] = asyncio.get_running_loop().create_future()
        self._originates[aid] = result  # before sending: the event may come right away
        try:
            await self.action("Originate", {**fields, "Async": "true"}, action_id=aid)
            try:
                return await self._wait(result, "Originate", timeout_s)
            except AmiDisconnected as exc:
                raise AmiDisconnected("Originate", exc.message, queued=True) from None
        finally:
            self._originates.pop(aid, None)

    async def action_list(
        self,
        action: str,
        fields: Mapping[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[AmiFrame]:
        """A list action (``EventList: start``): the events with its ActionID, up to the one
        saying ``EventList: Complete`` (that one left out)."""
        aid = self.next_action_id()
        done: asyncio.Future[AmiFrame] = asyncio.get_running_loop().create_future()
        items: list[AmiFrame] = []
        self._lists[aid] = (items, done)
        try:
            await self.action(action, fields, action_id=aid, timeout_s=timeout_s)
            await self._wait(done, action, timeout_s or self.action_timeout_s)
            return items
        finally:
            self._lists.pop(aid, None)

    async def _wait(
        self, future: asyncio.Future[AmiFrame], action: str, timeout_s: float
    ) -> AmiFrame:
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            raise AmiTimeout(action, f"no answer within {timeout_s:g} s") from None

    async def _send(self, data: bytes, action: str) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AmiDisconnected(action, "not connected")
        async with self._write_lock:
            try:
                writer.write(data)
                await asyncio.wait_for(writer.drain(), self.action_timeout_s)
            except (OSError, TimeoutError) as exc:
                writer.close()
                raise AmiDisconnected(action, f"write failed: {exc!r}") from None

    # ------------------------------------------------------------------ the connection

    async def _supervise(self) -> None:
        pause = self.reconnect_min_s
        while True:
            refused = False
            try:
                refused = await self._session()
            except asyncio.CancelledError:
                self._drop("client stopped")
                raise
            except (OSError, TimeoutError, AmiError, AmiProtocolError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s %s:%d: %s", self.name, self.host, self.port, self.last_error)
            self._drop(self.last_error or "connection closed")
            if self.logins and self.state is AmiState.READY:
                pause = self.reconnect_min_s  # it worked: start the backoff again
            if refused:
                self._set_state(AmiState.REFUSED)
                await asyncio.sleep(self.reconnect_max_s)
                continue
            self._set_state(AmiState.BACKOFF)
            await asyncio.sleep(pause)
            pause = min(self.reconnect_max_s, pause * 2)

    async def _session(self) -> bool:
        """One connection from connect to its end; True if the login was refused."""
        self._set_state(AmiState.CONNECTING)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout_s
        )
        self._writer = writer
        self._booted.clear()
        frames = FrameReader()
        read_task = asyncio.create_task(
            self._read(reader, frames), name=f"{self.name}[{self.host}:{self.port}].reader"
        )
        try:
            try:
                await self.action(
                    "Login",
                    {"Username": self._username, "Secret": self._secret},
                    require_ready=False,
                    timeout_s=self.action_timeout_s,
                )
            except AmiDisconnected:
                raise
            except AmiError as exc:
                self.last_error = f"login refused: {exc.message}"
                log.error("%s %s:%d: %s", self.name, self.host, self.port, self.last_error)
                return True
            self.logins += 1
            self._set_state(AmiState.BOOTING)
            booted = asyncio.create_task(self._booted.wait())
            await asyncio.wait(
                {booted, read_task},
                timeout=self.boot_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            booted.cancel()
            if read_task.done():
                read_task.result()
                return False
            if not self._booted.is_set():
                log.warning(
                    "%s: no FullyBooted within %g s; going on", self.name, self.boot_timeout_s
                )
            self.last_error = None
            self._set_state(AmiState.READY)
            await self._keep_alive(read_task)
            return False
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _keep_alive(self, read_task: asyncio.Task[None]) -> None:
        """Until the reader ends; a Ping that times out ends a half-open connection."""
        while True:
            done, _ = await asyncio.wait({read_task}, timeout=self.ping_interval_s)
            if done:
                read_task.result()  # raises what ended it
                return
            try:
                await self.action("Ping", timeout_s=self.action_timeout_s)
            except AmiTimeout:
                self.last_error = "ping timed out"
                return
            except AmiDisconnected:
                return

    async def _read(self, reader: asyncio.StreamReader, frames: FrameReader) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    self.last_error = "connection closed by Asterisk"
                    return
                for frame in frames.feed(data):
                    self._dispatch(frame)
        finally:
            self._fail_waiting(self.last_error or "connection closed")

    def _dispatch(self, frame: AmiFrame) -> None:
        aid = frame.action_id
        if frame.kind is FrameKind.RESPONSE:
            future = self._pending.get(aid) if aid else None
            if future is not None and not future.done():
                future.set_result(frame)
            else:
                log.debug("%s: response to no pending action: %s", self.name, aid)
            return
        if frame.kind is not FrameKind.EVENT:
            return
        if frame.event == "FullyBooted":
            self._booted.set()
        elif frame.event == "OriginateResponse" and aid:
            future = self._originates.get(aid)
            if future is not None and not future.done():
                future.set_result(frame)
        elif aid and aid in self._lists:
            items, done = self._lists[aid]
            if frame.get("EventList") == "Complete":
                if not done.done():
                    done.set_result(frame)
            else:
                items.append(frame)
        for listener in list(self._listeners):
            try:
                listener(frame)
            except Exception:
                log.exception("%s: event listener failed on %s", self.name, frame.event)

    def _drop(self, reason: str) -> None:
        """The connection is gone: every waiting request learns it now."""
        if self._writer is not None and self.state is AmiState.READY and not self._stopping:
            self.connections_lost += 1
        self._writer = None
        self._fail_waiting(reason)

    def _fail_waiting(self, reason: str) -> None:
        waiting = [*self._pending.values(), *self._originates.values()]
        waiting += [done for _, done in self._lists.values()]
        for future in waiting:
            if not future.done():
                future.set_exception(AmiDisconnected("request", reason))
