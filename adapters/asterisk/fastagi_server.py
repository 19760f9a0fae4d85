"""The FastAGI server: accepts Asterisk's connections and runs each call on its own thread.

- routing by script name: ``agi://host:port/ivr12319?lang=zh`` runs the handler
  registered for ``ivr12319``, which sees the query (``lang=zh``) in the environment;
  an unknown script is told so in Asterisk's log and closed (the dialplan falls back);
- bounded concurrency: at most ``max_calls`` calls at once; one more is closed at once
  without a word (Asterisk reports AGISTATUS=SUCCESS with no ``CITYGW_RESULT``, and
  the dialplan sends the caller to the agent queue);
- a read timeout per socket (`FastAgiSession`), so a silent Asterisk cannot hold a thread;
- a handler may return a follow-up to run after the socket is closed (the caller is
  released first, then the call's messages are stored in the outbox); follow-ups run
  one at a time on one ``<name>.after-calls`` thread, never on the calls' threads: a
  burst of calls ending together (500 consultations handed to agents within seconds)
  then costs the calls still running one busy thread, not hundreds fighting for the GIL
  (measured: p99 added latency 39-80 ms with a follow-up per call thread, 2.6 ms with
  them in line; `bench/agi_load.py --purpose consultation`);
- clean shutdown: ``stop()`` stops accepting, lets calls in progress finish for up to
  ``drain_timeout_s``, then cuts the rest (their handlers see a closed channel and end
  with what they captured).

The sessions are blocking (pyst2's command set), so threads, not asyncio: one thread per
call, which `bench/agi_load.py` measures at 500 concurrent calls.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from enum import StrEnum

from asterisk.agi import AGIError

from adapters.asterisk.agi_session import FastAgiSession
from gateway.observability import AGI_COMMAND_BUCKETS, NO_METRICS, Histogram, Metrics
from gateway.telephony.channel import ChannelError

log = logging.getLogger(__name__)

#: runs one call; may return a follow-up to run once the socket is closed
CallHandler = Callable[[FastAgiSession], Callable[[], None] | None]


class ServerState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


class FastAgiServer:
    """``start()``/``stop()`` are idempotent; ``port`` is known after ``start()``."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: Mapping[str, CallHandler],
        *,
        max_calls: int = 300,
        read_timeout_s: float = 30.0,
        env_timeout_s: float = 10.0,
        drain_timeout_s: float = 60.0,
        backlog: int = 512,
        name: str = "fastagi",
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.host = host
        self.port = port
        self._routes = dict(routes)
        self._max_calls = max_calls
        self._read_timeout_s = read_timeout_s
        self._env_timeout_s = env_timeout_s
        self._drain_timeout_s = drain_timeout_s
        self._backlog = backlog
        self.name = name
        self._state = ServerState.NEW
        self._state_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_calls)
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._calls: dict[int, tuple[threading.Thread, socket.socket]] = {}
        self._calls_lock = threading.Lock()
        self._idle = threading.Condition(self._calls_lock)
        #: follow-ups of ended calls, run in order by the after-calls thread (None: stop)
        self._after: queue.SimpleQueue[tuple[int, Callable[[], None]] | None] = queue.SimpleQueue()
        self._after_pending = 0  # queued or running; guarded by _calls_lock
        self._after_closed = False  # stop() has told the thread to end; guarded by _calls_lock
        self._after_thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.calls_total = 0
        self.calls_refused = 0
        self.calls_failed = 0
        #: the latest (command, seconds from the previous reply read to it being sent)
        self.turnarounds: deque[tuple[str, float]] = deque(maxlen=200_000)
        self._metrics = metrics
        self._turnaround = metrics.histogram(
            "citygw_agi_turnaround_seconds",
            "Time from Asterisk's reply to the gateway's next command (what the gateway adds)",
        )
        self._command_seconds: dict[str, Histogram] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def state(self) -> ServerState:
        return self._state

    def _set_state(self, state: ServerState) -> None:
        with self._state_lock:
            if state == self._state:
                return
            previous, self._state = self._state, state
        log.info("%s %s -> %s", self.name, previous, state)

    def start(self) -> None:
        if self._state != ServerState.NEW:
            return
        listener = socket.create_server(
            (self.host, self.port), backlog=self._backlog, reuse_port=False
        )
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{self.name}.accept", daemon=True
        )
        self._after_thread = threading.Thread(
            target=self._after_loop, name=f"{self.name}.after-calls", daemon=True
        )
        self._set_state(ServerState.RUNNING)
        self._after_thread.start()
        self._accept_thread.start()
        log.info(
            "%s listening on %s:%d (routes: %s; at most %d calls)",
            self.name,
            self.host,
            self.port,
            ", ".join(sorted(self._routes)),
            self._max_calls,
        )

    def stop(self, drain_timeout_s: float | None = None) -> None:
        """Stop accepting; let calls finish (up to the drain timeout); cut the rest."""
        if self._state in (ServerState.NEW, ServerState.STOPPED):
            self._set_state(ServerState.STOPPED)
            return
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(5)
        if self._listener is not None:
            self._listener.close()
        self._set_state(ServerState.DRAINING)
        timeout = self._drain_timeout_s if drain_timeout_s is None else drain_timeout_s
        if not self.wait_idle(timeout):
            with self._calls_lock:
                left = list(self._calls.values())
            log.warning(
                "%s: cutting %d call(s) still running after %.0f s", self.name, len(left), timeout
            )
            for _thread, sock in left:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.wait_idle(10)
        with self._idle:
            self._after_closed = True  # a call cut but still ending runs its own follow-up
            self._after.put(None)  # after the follow-ups already queued
        if self._after_thread is not None:
            self._after_thread.join(30)
            if self._after_thread.is_alive():
                log.error("%s: %d follow-up(s) still running", self.name, self._after_pending)
        self._set_state(ServerState.STOPPED)

    def wait_idle(self, timeout: float) -> bool:
        """True once no call is running and every ended call's follow-up has run."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._calls or self._after_pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def healthy(self) -> bool:
        """Running and accepting (for the systemd watchdog)."""
        threads = (self._accept_thread, self._after_thread)
        return self._state == ServerState.RUNNING and all(
            t is not None and t.is_alive() for t in threads
        )

    @property
    def active_calls(self) -> int:
        with self._calls_lock:
            return len(self._calls)

    # ------------------------------------------------------------------ accepting

    def _accept_loop(self) -> None:
        assert self._listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                if not selector.select(timeout=0.2):
                    continue
                while True:
                    try:
                        conn, peer = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:
                        log.error("%s: accept failed: %s", self.name, exc)
                        time.sleep(0.1)
                        break
                    self._admit(conn, peer)
        finally:
            selector.close()

    def _admit(self, conn: socket.socket, peer: object) -> None:
        conn.setblocking(True)
        if not self._slots.acquire(blocking=False):
            self.calls_refused += 1
            log.warning(
                "%s: %d calls already running; refusing %s (the dialplan falls back)",
                self.name,
                self._max_calls,
                peer,
            )
            conn.close()
            return
        call_id = next(self._ids)
        thread = threading.Thread(
            target=self._serve,
            args=(call_id, conn),
            name=f"{self.name}.call[{call_id}]",
            daemon=True,
        )
        with self._calls_lock:
            self._calls[call_id] = (thread, conn)
            self.calls_total += 1
        thread.start()

    # ------------------------------------------------------------------ one call

    def _serve(self, call_id: int, conn: socket.socket) -> None:
        follow_up: Callable[[], None] | None = None
        session: FastAgiSession | None = None
        try:
            session = FastAgiSession(
                conn,
                read_timeout_s=self._read_timeout_s,
                env_timeout_s=self._env_timeout_s,
                name=f"{self.name}.call[{call_id}]",
            )
            script = session.environment.script
            handler = self._routes.get(script)
            if handler is None:
                log.warning("%s: no route for script %r; closing", self.name, script)
                with contextlib.suppress(ChannelError, AGIError):
                    session.verbose(f"citygw: no FastAGI route for {script!r}", 1)
            else:
                follow_up = handler(session)
        except (ChannelError, AGIError) as exc:
            self.calls_failed += 1
            log.warning("%s: call %d ended: %s", self.name, call_id, exc)
        except Exception:
            self.calls_failed += 1
            log.exception("%s: call %d failed", self.name, call_id)
        finally:
            if session is not None:
                session.close()
                self.turnarounds.extend(session.turnarounds)
                self._observe(session)
            else:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            with self._idle:
                if follow_up is not None and not self._after_closed:
                    self._after_pending += 1
                    self._after.put((call_id, follow_up))
                    follow_up = None
                self._calls.pop(call_id, None)
                self._slots.release()  # with the pop: no call listed means its slot is free
                self._idle.notify_all()
            if follow_up is not None:
                self._run_follow_up(call_id, follow_up)

    def _observe(self, session: FastAgiSession) -> None:
        """A call's command times into the histograms (once, at its end)."""
        for _command, seconds in session.turnarounds:
            self._turnaround.observe(seconds)
        for command, seconds in session.command_times:
            histogram = self._command_seconds.get(command)
            if histogram is None:
                histogram = self._metrics.histogram(
                    "citygw_agi_command_seconds",
                    "Time from an AGI command sent to its reply (playing a prompt, waiting for digits)",
                    {"command": command},
                    AGI_COMMAND_BUCKETS,
                )
                self._command_seconds[command] = histogram
            histogram.observe(seconds)

    def _after_loop(self) -> None:
        """Runs the ended calls' follow-ups, one at a time, until `stop` says so."""
        while (item := self._after.get()) is not None:
            call_id, follow_up = item
            try:
                self._run_follow_up(call_id, follow_up)
            finally:
                with self._idle:
                    self._after_pending -= 1
                    self._idle.notify_all()

    def _run_follow_up(self, call_id: int, follow_up: Callable[[], None]) -> None:
        try:
            follow_up()
        except Exception:
            log.exception("%s: after call %d", self.name, call_id)
