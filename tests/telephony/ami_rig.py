"""The AMI side's test rig: the fake Asterisk Manager on a loop of its own thread, and
`citygw ami` (`run_ami`) in a thread, as the daemon runs it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from adapters.asterisk.ami_fake import ScriptedAmiServer
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.config import Config
from gateway.telephony.ami_daemon import AmiRuntime, run_ami
from tests.conftest import FIXTURES_DIR

AMI = FIXTURES_DIR / "asterisk-ami"
SECRET = "citygw-ami-secret"


class FakeAsteriskManager:
    """`ScriptedAmiServer` on a loop of its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test.ami", daemon=True)
        self.thread.start()
        self.server = ScriptedAmiServer(AMI, behaviour=lambda n: ("answered", "3"))
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class RunningAmi:
    """`run_ami` in a thread, as `citygw ami` runs it."""

    def __init__(self, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.stop = threading.Event()
        self._ready = threading.Event()
        self.runtime: AmiRuntime | None = None
        self.error: BaseException | None = None
        self._clock = clock
        self.thread = threading.Thread(target=self._run, name="test.ami", daemon=True)
        self.thread.start()
        assert self._ready.wait(20), f"ami did not start: {self.error}"

    def _run(self) -> None:
        def ready(runtime: AmiRuntime) -> None:
            self.runtime = runtime
            self._ready.set()

        try:
            run_ami(self.config, self.stop, clock=self._clock, ready=ready)
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    @property
    def health(self) -> dict[str, Any]:
        assert self.runtime is not None, self.error
        return self.runtime.side.health()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def callbacks_settings(port: int, secret: str = SECRET, **more: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "ami": {"port": port, "secret": secret, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "delay_after_close_s": 0,
        "days": [1, 2, 3, 4, 5, 6, 7],
        "hours": ["00:00-23:59"],
        **more,
    }


def ami_config(
    make_config: Callable[..., Config],
    port: int,
    *,
    metrics_port: int | None = None,
    **callbacks: Any,
) -> Config:
    return make_config(
        telephony={"callbacks": callbacks_settings(port, **callbacks)},
        metrics={"ami_port": metrics_port},
    )
