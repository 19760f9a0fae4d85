"""The publisher stage's work: a firing becomes a candidate case handed to the outbox.

`gateway.video.analysis.pipeline` runs `FiringPublisher.publish` on its thread
``video.analysis.publisher`` for each firing of the rules: the candidate is built with
its evidence (`firing_evidence`: an annotated snapshot, and a clip when the ingest side
offers one) and handed to the durable outbox. When the outbox keeps refusing (full, disk
error), the candidate is kept in the spill folder (``state_dir/unsent-video``) and offered
again from there (`SpillFolder.offer`, shared with the cameras' own rule events): a
firing is never lost to a full outbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock
from gateway.contract import CandidateCase
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
    pass

log = logging.getLogger("citygw.video.analysis")

#: a camera's current analysis and place (grid, address, ...), by camera id
CameraOf = Callable[[str], tuple[CameraAnalysis, dict[str, object]]]


class FiringPublisher:
    """Firings -> candidate cases -> the outbox (or the spill folder), counted in the
    pipeline's metrics (``publish_errors``, ``spilled``, ``latencies``, per camera
    ``candidates`` and ``updates``)."""

    def __init__(
        self,
        clock: Clock,
        settings: AnalysisConfig,
        clips: EvidenceClips | None,
        *,
        camera_of: CameraOf,
        running: Callable[[], bool],
        feedback: FalsePositiveMemory,
        metrics: PipelineMetrics,
        spill: SpillFolder,
    ) -> None:
        self._clock = clock
        self._settings = settings  # snapshot and clip settings: a reload does not change them
        self._clips = clips
        self._camera_of = camera_of  # a reload may replace a camera's entry: asked each time
        self._running = running  # no backoff between retries once the pipeline stops
        self._feedback = feedback
        self._metrics = metrics
        self._published = threading.Condition()
        self.spill = spill  # shared with the cameras' own rule events (`gateway.video.unsent`)

    def publish(self, firing: Firing, frame: Frame, visible: list[Detection]) -> None:
        """Hand the candidate of ``firing`` to the outbox; when it keeps refusing (or older
        candidates wait in the spill folder), keep the candidate in the spill folder."""
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
        offered = self.spill.offer(candidate, patient=self._running)
        with self._published:
            self._metrics.publish_errors += offered.refusals
            self._metrics.spilled += not offered.taken
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
