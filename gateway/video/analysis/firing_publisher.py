"""The publisher stage's work: a firing becomes a candidate case handed to the outbox.

`gateway.video.analysis.pipeline` runs `FiringPublisher.publish` on its thread
``video.analysis.publisher`` for each firing of the rules: the candidate is built with
its evidence (`firing_evidence`: an annotated snapshot, and a clip when the ingest side
offers one) and handed to the durable outbox. When the outbox keeps refusing (full, disk
error), the candidate is kept in the spill folder (``state_dir/unsent-video``) and offered
again from there: a firing is never lost to a full outbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock
from gateway.contract import CandidateCase, ContractError, Message
from gateway.spill import SpillFolder
from gateway.video.analysis.candidate import build_candidate
from gateway.video.analysis.feedback import FalsePositiveMemory
from gateway.video.analysis.firing_evidence import firing_evidence
from gateway.video.analysis.gating import CameraAnalysis
from gateway.video.analysis.metrics import PipelineMetrics
from gateway.video.analysis.model_plan import model_of
from gateway.video.analysis.rules import Firing
from gateway.video.analysis.settings import AnalysisConfig
from gateway.video.detection import Detection
from gateway.video.evidence import EvidenceClips
from gateway.video.frame import Frame

if TYPE_CHECKING:
    from gateway.publishing import ContractPublisher

log = logging.getLogger("citygw.video.analysis")

_PUBLISH_ATTEMPTS = 5  # the outbox is a local SQLite file: a failure is rare and passing

#: a camera's current analysis and place (grid, address, ...), by camera id
CameraOf = Callable[[str], tuple[CameraAnalysis, dict[str, object]]]


class FiringPublisher:
    """Firings -> candidate cases -> the outbox (or the spill folder), counted in the
    pipeline's metrics (``publish_errors``, ``spilled``, ``latencies``, per camera
    ``candidates`` and ``updates``)."""

    def __init__(
        self,
        candidates: ContractPublisher,
        clock: Clock,
        settings: AnalysisConfig,
        clips: EvidenceClips | None,
        *,
        camera_of: CameraOf,
        running: Callable[[], bool],
        feedback: FalsePositiveMemory,
        metrics: PipelineMetrics,
        spill_dir: Path,
    ) -> None:
        self._candidates = candidates
        self._clock = clock
        self._settings = settings  # snapshot and clip settings: a reload does not change them
        self._clips = clips
        self._camera_of = camera_of  # a reload may replace a camera's entry: asked each time
        self._running = running  # no backoff between retries once the pipeline stops
        self._feedback = feedback
        self._metrics = metrics
        self._published = threading.Condition()
        self.spill = SpillFolder(spill_dir, self._resend_spilled)

    def publish(self, firing: Firing, frame: Frame, visible: list[Detection]) -> None:
        """Hand the candidate of ``firing`` to the outbox; when it keeps refusing, keep the
        candidate in the spill folder."""
        try:
            candidate = self._build(firing, frame, visible)
        except Exception:  # evidence or a bug: there is no message to keep
            log.exception(
                "could not make the candidate of camera %s rule %s",
                firing.camera_id,
                firing.rule.id,
                extra={"camera": firing.camera_id},
            )
            with self._published:
                self._metrics.publish_errors += 1
            return
        for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
            try:
                self._candidates.candidate(candidate)  # durable when it returns
                break
            except Exception as exc:
                log.warning(
                    "the outbox refused the candidate %s of camera %s (attempt %d/%d): %s",
                    candidate.id,
                    firing.camera_id,
                    attempt,
                    _PUBLISH_ATTEMPTS,
                    exc,
                    extra={"camera": firing.camera_id, "candidate": candidate.id},
                )
                with self._published:
                    self._metrics.publish_errors += 1
                if attempt < _PUBLISH_ATTEMPTS and self._running():
                    time.sleep(min(2.0, 0.25 * attempt))  # backoff between retries
        else:
            where = self.spill.keep(candidate)
            log.error(
                "candidate %s kept in %s until the outbox takes it",
                candidate.id,
                where,
                extra={"candidate": candidate.id},
            )
            with self._published:
                self._metrics.spilled += 1
        self._published_candidate(candidate, firing, frame)

    def wait_for_candidates(self, count: int, timeout: float) -> bool:
        """Block until ``count`` candidates were handed to the outbox (tests, benchmarks)."""
        with self._published:
            return self._published.wait_for(
                lambda: sum(c.candidates for c in self._metrics.cameras.values()) >= count,
                timeout,
            )

    def _published_candidate(self, candidate: CandidateCase, firing: Firing, frame: Frame) -> None:
        latency = self._clock.monotonic() - frame.monotonic
        self._feedback.remember_candidate(candidate.id, candidate.facts)
        camera, _ = self._camera_of(firing.camera_id)
        with self._published:
            camera.metrics.candidates += 1
            camera.metrics.updates += firing.is_update
            self._metrics.latencies.append(latency)
            self._published.notify_all()

    def _build(self, firing: Firing, frame: Frame, visible: list[Detection]) -> CandidateCase:
        camera, location = self._camera_of(firing.camera_id)
        label = firing.objects[0].detection.label if firing.objects else None
        return build_candidate(
            firing,
            frame,
            camera.config,
            firing_evidence(firing, frame, visible, camera.config, self._settings, self._clips),
            model=model_of(camera.models, label),
            location=location,
        )

    def _resend_spilled(self, message: Message) -> None:
        if not isinstance(message, CandidateCase):
            raise ContractError("unexpected_schema", f"{message.SCHEMA} in the video spill")
        self._candidates.candidate(message)


def camera_places(cameras: Iterable[Any]) -> dict[str, dict[str, object]]:
    """Each camera's place (grid, district, address, lat/lon, footprint), for its candidates."""
    return {
        camera.id: {
            "grid_code": camera.grid_code,
            "district": camera.district,
            "address": camera.address,
            "lat": camera.lat,
            "lon": camera.lon,
            "footprint": camera.footprint,
        }
        for camera in cameras
    }
