"""Nothing dropped when the outbox refuses: candidates are kept on disk and sent later."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from gateway.clock import SystemClock
from gateway.config import Config
from gateway.contract import CandidateCase, Location, Message, Source, SourceKind
from gateway.spill import SpillFolder
from gateway.video.analysis.pipeline import AnalysisPipeline
from gateway.video.detection import Detection

from .test_pipeline import PARKING, ScriptedDetector, still_frames, video_config


class Full(Exception):
    """What the outbox raises when it holds its maximum (stands in for OutboxFull)."""


class FlakyOutbox:
    """The contract publisher's candidate port, refusing while ``full``."""

    def __init__(self) -> None:
        self.full = True
        self.taken: list[CandidateCase] = []
        self.refusals = 0
        self.changed = threading.Condition()

    def candidate(self, candidate: CandidateCase) -> int:
        with self.changed:
            if self.full:
                self.refusals += 1
                raise Full("outbox holds 1000000 messages")
            self.taken.append(candidate)
            self.changed.notify_all()
            return len(self.taken)

    def wait_taken(self, count: int, timeout: float) -> list[CandidateCase]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.taken) >= count, timeout)
            return list(self.taken)


def candidate(n: int) -> CandidateCase:
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id="cam-1"),
        id=f"cand-spill-{n:04d}",
        event_code="0505",
        location=Location(camera_id="cam-1"),
    )


def test_kept_messages_go_out_oldest_first_once_the_outbox_takes_them(tmp_path: Path) -> None:
    sent: list[Message] = []
    refuse = [True]

    def publish(message: Message) -> None:
        if refuse[0]:
            raise Full("full")
        sent.append(message)

    spill = SpillFolder(tmp_path / "unsent", publish)
    for n in range(3):
        spill.keep(candidate(n))
    assert len(spill.pending()) == 3
    assert spill.resend() == 0 and len(spill.pending()) == 3  # still full: all kept
    refuse[0] = False
    assert spill.resend() == 3
    assert [m.id for m in sent] == ["cand-spill-0000", "cand-spill-0001", "cand-spill-0002"]
    assert spill.pending() == [] and not list((tmp_path / "unsent").glob(".*"))


def test_an_offered_message_is_tried_then_kept_and_later_ones_wait_behind_it(
    tmp_path: Path,
) -> None:
    sent: list[Message] = []
    refuse = [True]

    def publish(message: Message) -> None:
        if refuse[0]:
            raise Full("full")
        sent.append(message)

    spill = SpillFolder(tmp_path / "unsent", publish)
    offered = spill.offer(candidate(1), attempts=3, patient=lambda: False)
    assert (offered.taken, offered.refusals) == (False, 3) and len(spill.pending()) == 1
    refuse[0] = False  # room again, but the older one waits: the new one goes behind it
    assert spill.offer(candidate(2)).taken is False and sent == []
    assert spill.resend() == 2
    assert [m.id for m in sent] == ["cand-spill-0001", "cand-spill-0002"]
    assert spill.offer(candidate(3)).taken and spill.pending() == []


def test_a_kept_file_that_no_longer_parses_is_set_aside_not_retried(tmp_path: Path) -> None:
    sent: list[Message] = []
    spill = SpillFolder(tmp_path / "unsent", sent.append)
    spill.keep(candidate(1))
    (tmp_path / "unsent" / "00000000000000000001-broken.json").write_text("{cut sho")
    assert spill.resend() == 1 and [m.id for m in sent] == ["cand-spill-0001"]
    assert [p.name for p in (tmp_path / "unsent").iterdir()] == [
        "00000000000000000001-broken.json.unreadable"
    ]


def test_a_candidate_the_outbox_refuses_is_kept_on_disk_and_sent_when_it_has_room(
    make_config: Callable[..., Config],
) -> None:
    config = make_config(video=video_config(extra_rules=[PARKING], recheck_s=20))
    outbox = FlakyOutbox()
    parked = Detection(100, 480, 260, 560, 0.9, 2, "car")
    pipeline = AnalysisPipeline(
        config,
        outbox,
        SystemClock(),
        detector=ScriptedDetector(lambda: [parked]),  # type: ignore[arg-type]
    )
    pipeline.start()
    try:
        for frame in still_frames(5 * 40):  # 40 s of video: the car dwells 30 s
            pipeline.submit(frame)
            assert pipeline.wait_idle(30)
        assert outbox.refusals == 5  # tried, then kept
        spilled = list((config.state_dir / "unsent-video").glob("*.json"))
        assert len(spilled) == 1 and pipeline.metrics().spilled == 1
        outbox.full = False  # the broker is back, the outbox drains and has room
        (sent,) = outbox.wait_taken(1, timeout=15)
        assert sent.event_code == "0505" and sent.facts["dwell_s"] >= 30
        assert sent.evidence and sent.evidence[0].raw_bytes()[:2] == b"\xff\xd8"  # the JPEG
        deadline = time.monotonic() + 5
        while list((config.state_dir / "unsent-video").glob("*.json")):
            assert time.monotonic() < deadline, "the spilled file was not removed"
            time.sleep(0.05)
    finally:
        pipeline.stop()


def test_what_an_earlier_run_kept_is_sent_when_the_pipeline_starts(
    make_config: Callable[..., Config],
) -> None:
    config = make_config(video=video_config())
    SpillFolder(config.state_dir / "unsent-video", lambda m: None).keep(candidate(7))
    outbox = FlakyOutbox()
    outbox.full = False
    pipeline = AnalysisPipeline(
        config,
        outbox,
        SystemClock(),
        detector=ScriptedDetector(lambda: []),  # type: ignore[arg-type]
    )
    pipeline.start()
    try:
        (sent,) = outbox.wait_taken(1, timeout=15)
        assert sent.id == "cand-spill-0007"
    finally:
        pipeline.stop()
