"""Fixtures of the telephony tests: prompt files, and a running gateway on a free port.

`agi_gateway` runs the real FastAGI server and the real telephony service; only the
publisher is an in-memory fake (the end-to-end test uses the real outbox and Mosquitto).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.asterisk.agi_channel import AgiChannel
from adapters.asterisk.agi_session import FastAgiSession
from adapters.asterisk.fake_asterisk import CallOptions, write_wav
from adapters.asterisk.fastagi_server import FastAgiServer
from gateway.clock import FakeClock
from gateway.contract import CandidateCase, CaseFeedback
from gateway.telephony.case_numbers import CaseNumberAllocator
from gateway.telephony.prompts import prompt_files
from gateway.telephony.service import TelephonyService
from gateway.telephony.settings import TelephonyConfig
from gateway.telephony.status_cache import CaseStatusCache
from tests.telephony.transcripts import ASTERISK_FIXTURES


@pytest.fixture
def asterisk_fixtures() -> Path:
    return ASTERISK_FIXTURES


def placeholder_prompts(settings: TelephonyConfig) -> None:
    """Short WAV files where the prompts belong (the real build is tested on its own)."""
    for prompt in prompt_files(settings):
        write_wav(prompt.path, 0.05)


@dataclass
class MemoryPublisher:
    """The `CallPublisher` port in memory; ``fail`` makes it refuse like a full outbox."""

    candidates: list[CandidateCase] = field(default_factory=list)
    feedback_messages: list[CaseFeedback] = field(default_factory=list)
    fail: bool = False
    published: threading.Event = field(default_factory=threading.Event)

    def candidate(self, candidate: CandidateCase) -> int:
        if self.fail:
            raise RuntimeError("outbox full")
        self.candidates.append(candidate)
        self.published.set()
        return len(self.candidates)

    def feedback(self, feedback: CaseFeedback) -> int:
        if self.fail:
            raise RuntimeError("outbox full")
        self.feedback_messages.append(feedback)
        self.published.set()
        return len(self.feedback_messages)


@dataclass
class Gateway:
    server: FastAgiServer
    service: TelephonyService
    publisher: MemoryPublisher
    cache: CaseStatusCache
    settings: TelephonyConfig
    clock: FakeClock
    tmp: Path

    def options(self, **overrides: Any) -> CallOptions:
        fields: dict[str, Any] = {
            "script": self.settings.script,
            "port": self.server.port,
            "sounds_dir": self.settings.sounds_dir,
            "record_root": self.settings.recordings_dir,
        }
        fields.update(overrides)
        return CallOptions(**fields)

    def wait_idle(self) -> None:
        assert self.server.wait_idle(30), "calls still running"


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    started: list[tuple[FastAgiServer, CaseNumberAllocator]] = []

    def build(**settings_overrides: Any) -> Gateway:
        document: dict[str, Any] = {
            "listen_port": 0,
            "sounds_dir": str(tmp_path / "sounds" / "zh"),
            "recordings_dir": str(tmp_path / "recordings"),
            "read_timeout_s": 15,
            "drain_timeout_s": 5,
            "status_wait_s": 0.5,
        }
        document.update(settings_overrides)
        settings = TelephonyConfig.model_validate(document)
        placeholder_prompts(settings)
        clock = FakeClock()
        cache = CaseStatusCache()
        numbers = CaseNumberAllocator(
            tmp_path / "state" / f"numbers-{len(started)}.sqlite3",
            prefix=settings.case_number_prefix,
            timezone=settings.timezone,
            clock=clock,
        )
        publisher = MemoryPublisher()
        service = TelephonyService(
            settings,
            instance="test",
            publisher=publisher,
            case_numbers=numbers,
            status=cache,
            clock=clock,
            unsent_dir=tmp_path / "state" / "unsent",
            max_payload_bytes=8 * 1024 * 1024,
        )

        def ivr(session: FastAgiSession) -> Callable[[], None]:
            return service.handle_call(AgiChannel(session))

        server = FastAgiServer(
            "127.0.0.1",
            0,
            {settings.script: ivr},
            max_calls=settings.max_calls,
            read_timeout_s=settings.read_timeout_s,
            env_timeout_s=settings.env_timeout_s,
            drain_timeout_s=settings.drain_timeout_s,
        )
        server.start()
        started.append((server, numbers))
        return Gateway(server, service, publisher, cache, settings, clock, tmp_path)

    yield build
    for server, numbers in started:
        server.stop(drain_timeout_s=2)
        numbers.close()


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()
