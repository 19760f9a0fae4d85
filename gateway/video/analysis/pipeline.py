"""The analysis pipeline: frames in, candidate cases out.

Three owned threads hand work over through bounded structures:

- ``video.analysis.motion``: takes submitted frames (a bounded queue over all cameras)
  and runs each camera's motion gate (`gating.gate`: motion on the frame's grey
  sample); frames with motion, and a periodic re-check of cameras holding tracks,
  become detector jobs: one keep-newest slot per camera;
- ``video.analysis.detector``: the one shared detector; serves cameras round-robin (a
  busy camera cannot starve a quiet one); jobs replaced before they ran are counted as
  skips of that camera; a job's images are its crops (or the whole frame) and the zone
  crops due (`zone_crops`), its detections brought back to the frame by
  `job_detections`; then tracker, false-positive suppression, rules;
- ``video.analysis.publisher``: turns firings into candidate cases with an annotated
  snapshot (and a clip when the ingest side offers one) and hands them to the durable
  outbox (`firing_publisher`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock
from gateway.contract import CaseEvent, ContractError, parse_message
from gateway.observability import NO_METRICS, Histogram, Metrics
from gateway.ports import InboundMessage
from gateway.spill import SpillFolder
from gateway.video.analysis.feedback import FalsePositiveMemory
from gateway.video.analysis.firing_publisher import FiringPublisher, camera_places
from gateway.video.analysis.gating import CameraAnalysis, Job, gate
from gateway.video.analysis.job_detections import frame_detections, job_images, run_models
from gateway.video.analysis.metrics import CameraMetrics, PipelineMetrics, copy_fields
from gateway.video.analysis.model_loading import load_models
from gateway.video.analysis.model_plan import ModelUse, ServedModel, plan_models
from gateway.video.analysis.motion import MotionDetector
from gateway.video.analysis.ports import Detector
from gateway.video.analysis.rules import Firing, RuleEngine
from gateway.video.analysis.settings import AnalysisConfig, CameraAnalysisConfig
from gateway.video.analysis.tracking import ObjectTracker
from gateway.video.analysis.zone_crops import unconfirmed, wanted_zone_crops
from gateway.video.detection import Detection
from gateway.video.evidence import EvidenceClips
from gateway.video.frame import Frame
from gateway.video.unsent import unsent_candidates

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.publishing import ContractPublisher

log = logging.getLogger("citygw.video.analysis")


class State(Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class AnalysisPipeline:
    """Motion-gated detection, tracking and rules for all cameras of one gateway."""

    def __init__(
        self,
        config: Config,
        candidates: ContractPublisher,
        clock: Clock,
        clips: EvidenceClips | None = None,
        *,
        detector: Detector | None = None,
        metrics: Metrics = NO_METRICS,
        spill: SpillFolder | None = None,
    ) -> None:
        """``spill``: where refused candidates wait (`gateway.video.unsent`), owned by the
        caller that shares it (the video gateway); when not given, the pipeline's own,
        started and stopped with it."""
        self._settings: AnalysisConfig = config.video.analysis
        self._meter = metrics
        self._latency: dict[str, Histogram] = {}  # per model, bound on its first pass
        self._clock = clock
        #: loaded models in order of preference; an injected detector serves every label
        self._detectors: dict[str, Detector] = {}
        self._served: list[ServedModel] = []
        if detector is not None:
            self._detectors[detector.name] = detector
            self._served.append(ServedModel(detector.name, None))
        self._owns_detector = detector is None
        self.unavailable_models: dict[str, str] = {}  # model -> why it could not be loaded
        # track ids restart with every run: the run's start time keeps subjects apart
        self._run = format(int(clock.now().timestamp() * 1000), "x")
        self._state = State.CREATED
        self._lock = threading.Lock()
        self._frames_ready = threading.Condition(self._lock)  # motion stage waits
        self._jobs_ready = threading.Condition(self._lock)  # detector stage waits
        self._settled = threading.Condition(self._lock)  # wait_idle waits
        self._frames: deque[Frame] = deque()
        self._gathering = False  # the motion stage waits for a batch to gather
        self._jobs: dict[str, Job] = {}
        self._order: deque[str] = deque()  # round-robin of cameras
        self._cameras: dict[str, CameraAnalysis] = {}
        self._firings: queue.Queue[tuple[Firing, Frame, list[Detection]] | None] = queue.Queue(
            maxsize=256
        )
        self._threads: list[threading.Thread] = []
        self._metrics = PipelineMetrics()
        self._analysed: deque[tuple[float, int]] = deque(maxlen=5000)  # (when, frames)
        self.feedback = FalsePositiveMemory(
            self._settings.feedback_suppress_s,
            self._settings.feedback_iou,
            path=config.state_dir / "false-detections.json",
            clock=clock,
        )
        self._busy = 0  # items taken off a queue and not finished yet
        self._locations = camera_places(getattr(config.video, "cameras", []))
        self._queue_bound = _queue_bound(self._settings, len(self._locations))
        self._owns_spill = spill is None
        self.spill = spill or unsent_candidates(config.state_dir, candidates)
        self._publisher = FiringPublisher(
            clock,
            self._settings,
            clips,
            camera_of=self._camera_and_place,
            running=lambda: self._state is State.RUNNING,
            feedback=self.feedback,
            metrics=self._metrics,
            spill=self.spill,
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def state(self) -> State:
        return self._state

    def _set_state(self, state: State) -> None:
        if state is not self._state:
            log.info("analysis pipeline %s -> %s", self._state.value, state.value)
            self._state = state

    def start(self) -> None:
        if self._state is State.RUNNING:
            return
        if self._state is not State.CREATED:
            raise RuntimeError(f"cannot start an analysis pipeline that is {self._state.value}")
        unknown = sorted(set(self._settings.cameras) - set(self._locations))
        if unknown:
            log.warning(
                "video.analysis.cameras names camera(s) %s that video.cameras does not list: "
                "their rules run only if frames arrive under those ids",
                unknown,
            )
        if not self._detectors:
            self._open_detectors()
        for name, target in (
            ("video.analysis.motion", self._motion_loop),
            ("video.analysis.detector", self._detector_loop),
            ("video.analysis.publisher", self._publisher_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
        self._set_state(State.RUNNING)
        for thread in self._threads:
            thread.start()
        if self._owns_spill:
            self.spill.start("video.analysis.spill")  # what an earlier run kept goes out first

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; firings already made are still published (up to ``timeout``)."""
        if self._state in (State.STOPPED, State.CREATED):
            self._set_state(State.STOPPED)
            return
        with self._lock:
            self._set_state(State.STOPPING)
            self._notify_all()
        for thread in self._threads[:2]:
            thread.join(timeout)
        self._firings.put(None)
        self._threads[2].join(timeout)
        if self._owns_spill:
            self.spill.stop()
        if self._owns_detector:
            for detector in self._detectors.values():
                detector.close()
        self._set_state(State.STOPPED)

    def _open_detectors(self) -> None:
        """Load every configured model (`model_loading.load_models`); one that cannot be
        loaded is left out with the reason, said per camera whose rules then stay silent."""
        loaded = load_models(self._settings)
        self._detectors.update(loaded.detectors)
        self._served.extend(loaded.served)
        self.unavailable_models.update(loaded.unavailable)
        for camera_id, camera in self._settings.cameras.items():
            _, unserved = plan_models(self._served, camera)
            if unserved:
                log.error(
                    "camera %s: no loaded model gives %s: the rules on them stay silent%s",
                    camera_id,
                    sorted(unserved),
                    f" (not loaded: {sorted(self.unavailable_models)})"
                    if self.unavailable_models
                    else "",
                )

    def apply(self, settings: AnalysisConfig, cameras: Any) -> list[str]:
        """A reload (SIGHUP): each camera's zones, rules, masks and class filters, and the
        cameras' places, take effect now (a camera whose analysis changed starts its rules
        afresh). Returns the settings that need a restart (models, detector, motion and
        tracker defaults), which stay as they were."""
        fixed = {"cameras"}
        needs_restart = [
            name
            for name in AnalysisConfig.model_fields
            if name not in fixed and getattr(settings, name) != getattr(self._settings, name)
        ]
        with self._lock:
            changed = [
                camera_id
                for camera_id in set(settings.cameras) | set(self._settings.cameras)
                if settings.cameras.get(camera_id) != self._settings.cameras.get(camera_id)
            ]
            self._settings = self._settings.model_copy(update={"cameras": settings.cameras})
            self._locations = camera_places(cameras)
            self._queue_bound = _queue_bound(self._settings, len(self._locations))
            for camera_id in changed:
                if self._cameras.pop(camera_id, None) is not None:
                    self._jobs.pop(camera_id, None)
                    if camera_id in self._order:
                        self._order.remove(camera_id)
        for camera_id in sorted(changed):
            log.info("camera %s: zones and rules reloaded", camera_id, extra={"camera": camera_id})
        return needs_restart

    def problem(self) -> str:
        """Why the pipeline as a whole does not work ("" while it does): not running, or
        one of its threads died under it (an error nothing in its loop caught)."""
        if self._state is not State.RUNNING:
            return f"analysis {self._state.value}"
        dead = [t.name for t in self._threads if not t.is_alive()]
        return f"analysis thread(s) died: {', '.join(dead)}" if dead else ""

    def healthy(self) -> bool:
        """Running, with each of its threads alive (for the systemd watchdog)."""
        return not self.problem()

    def fault(self, camera_id: str) -> str:
        """Why this camera's rules cannot all work ("" when they can)."""
        problem = self.problem()
        if problem:
            return problem
        config = self._settings.cameras.get(camera_id)
        if config is None:
            return ""
        _, unserved = plan_models(self._served, config)
        if not unserved:
            return ""
        missing = "; ".join(f"{k}: {v}" for k, v in sorted(self.unavailable_models.items()))
        return f"no loaded model gives {sorted(unserved)}" + (f" ({missing})" if missing else "")

    @property
    def max_batch(self) -> int:
        return max(d.max_batch for d in self._detectors.values())

    def models_of(self, camera_id: str) -> tuple[ModelUse, ...]:
        """The models a camera runs (after start), for which labels."""
        with self._lock:
            return self._camera(camera_id).models

    # ----------------------------------------------------------------- inputs

    def submit(self, frame: Frame) -> None:
        """Hand a frame over; never blocks. When the queue is full the oldest frame goes."""
        with self._lock:
            if self._state is not State.RUNNING:
                return
            camera = self._camera(frame.camera_id)
            camera.metrics.frames_in += 1
            if len(self._frames) >= self._queue_bound:
                dropped = self._frames.popleft()
                self._camera(dropped.camera_id).metrics.skipped += 1
            self._frames.append(frame)
            if not self._gathering or 2 * len(self._frames) >= self._queue_bound:
                self._frames_ready.notify()  # while a batch gathers, only a half-full queue

    def on_case_event(self, event: CaseEvent) -> bool:
        """Learn from a case event (a reject as false detection); True when something was learnt."""
        learnt = self.feedback.learn(event, self._clock.monotonic())
        return bool(learnt)

    def on_case_event_message(self, message: InboundMessage) -> None:
        """A handler for ``topics.all_case_events``: parse, learn, ack; bad input is logged."""
        try:
            event = parse_message(message.payload, expect=CaseEvent)
        except ContractError as exc:
            log.warning("case event on %s ignored: %s", message.topic, exc)
        else:
            assert isinstance(event, CaseEvent)
            self.on_case_event(event)
        message.ack()

    def detect_frame(self, frame: Frame) -> list[Detection]:
        """The camera's models on one whole frame, beside the stages (a camera check looks
        again): each label from the model that serves it, above ``min_score``, kept by the
        camera's class filters. Each detector serialises its own calls."""
        if self._state is not State.RUNNING:
            raise RuntimeError(f"the analysis pipeline is {self._state.value}")
        with self._lock:
            camera = self._camera(frame.camera_id)
        size = (frame.height, frame.width)
        found: list[Detection] = []
        for use in camera.models:
            for d in self._detectors[use.name].detect([frame.image])[0]:
                if (use.labels is None or d.label in use.labels) and (
                    d.score >= self._settings.min_score and camera.rules.keeps(d, size)
                ):
                    found.append(d)
        return found

    def metrics(self) -> PipelineMetrics:
        with self._lock:
            now = self._clock.monotonic()
            recent = sum(n for t, n in self._analysed if now - t <= 10.0)
            return PipelineMetrics(
                detector_calls=self._metrics.detector_calls,
                motion_batches=self._metrics.motion_batches,
                detector_seconds=self._metrics.detector_seconds,
                cameras={
                    k: CameraMetrics(**copy_fields(v)) for k, v in self._metrics.cameras.items()
                },
                false_positives=self.feedback.counts(),
                latencies=list(self._metrics.latencies),
                publish_errors=self._metrics.publish_errors,
                spilled=self._metrics.spilled,
                analysed_fps=recent / 10.0,
            )

    def wait_for_candidates(self, count: int, timeout: float) -> bool:
        """Block until ``count`` candidates were handed to the outbox (tests, benchmarks)."""
        return self._publisher.wait_for_candidates(count, timeout)

    def idle(self) -> bool:
        """No frame, job or firing waiting or in hand (everything submitted is done)."""
        with self._lock:
            return self._idle_locked()

    def _idle_locked(self) -> bool:
        return not self._frames and not self._jobs and self._busy == 0

    def wait_idle(self, timeout: float) -> bool:
        """Block until everything submitted so far went through all stages."""
        with self._lock:
            return self._settled.wait_for(self._idle_locked, timeout)

    def _notify_all(self) -> None:
        for condition in (self._frames_ready, self._jobs_ready, self._settled):
            condition.notify_all()

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._idle_locked():
                self._settled.notify_all()

    def _camera(self, camera_id: str) -> CameraAnalysis:
        camera = self._cameras.get(camera_id)
        if camera is None:
            settings = self._settings
            config = settings.cameras.get(camera_id, CameraAnalysisConfig())
            metrics = self._metrics.cameras.get(camera_id) or CameraMetrics()  # kept on reload
            self._metrics.cameras[camera_id] = metrics
            models, _ = plan_models(self._served, config)
            camera = self._cameras[camera_id] = CameraAnalysis(
                camera_id=camera_id,
                config=config,
                motion=MotionDetector(settings.motion, config.motion_masks),
                tracker=ObjectTracker(settings.tracker),
                rules=RuleEngine(camera_id, config, settings.timezone, run=self._run),
                metrics=metrics,
                models=models,
                crop_side=min(
                    (min(self._detectors[use.name].input_size) for use in models), default=640
                ),
            )
        return camera

    def _camera_and_place(self, camera_id: str) -> tuple[CameraAnalysis, dict[str, object]]:
        """The camera's entry now (a reload may have replaced it) and its place."""
        with self._lock:
            return self._camera(camera_id), self._locations.get(camera_id, {})

    # ----------------------------------------------------------------- motion stage

    def _motion_loop(self) -> None:
        """Gate frames in batches: one wake-up and two lock rounds per batch, not per frame.

        Between batches the stage waits ``motion_batch_s`` for frames to gather; a queue
        that fills to half its bound cuts the wait short, so gathering never drops frames.
        """
        pause = self._settings.motion_batch_s
        while True:
            with self._lock:
                self._frames_ready.wait_for(
                    lambda: self._frames or self._state is not State.RUNNING
                )
                if self._state is not State.RUNNING:
                    return
                batch = [(self._camera(frame.camera_id), frame) for frame in self._frames]
                self._frames.clear()
                self._busy += 1
            jobs: list[tuple[CameraAnalysis, Job]] = []
            for camera, frame in batch:
                try:
                    job = gate(camera, frame, self._settings)
                except Exception:
                    log.exception(
                        "motion analysis failed on camera %s",
                        frame.camera_id,
                        extra={"camera": frame.camera_id},
                    )
                    continue
                if job is not None:
                    jobs.append((camera, job))
            with self._lock:
                self._busy -= 1
                self._metrics.motion_batches += 1
                for camera, _ in batch:
                    camera.metrics.frames_motion += 1
                self._analysed.append((self._clock.monotonic(), len(batch)))
                for camera, job in jobs:
                    self._queue_job(camera, job)
                if jobs:
                    self._jobs_ready.notify()
                if self._idle_locked():
                    self._settled.notify_all()
                if pause:  # let the next batch gather (submit wakes us if the queue half-fills)
                    self._gathering = True
                    self._frames_ready.wait_for(self._batch_ready, pause)
                    self._gathering = False

    def _batch_ready(self) -> bool:
        half_full = 2 * len(self._frames) >= self._queue_bound
        return half_full or self._state is not State.RUNNING

    def _queue_job(self, camera: CameraAnalysis, job: Job) -> None:
        """Put a job in its camera's keep-newest slot (the lock is held)."""
        camera_id = camera.camera_id
        if camera_id in self._jobs:
            if job.reason == "hold":
                return  # a real pass is waiting: it carries the tracks anyway
            camera.metrics.skipped += 1  # the detector had not reached the older one
        else:
            self._order.append(camera_id)
        self._jobs[camera_id] = job

    # ----------------------------------------------------------------- detector stage

    def _detector_loop(self) -> None:
        max_batch = self.max_batch
        while True:
            with self._lock:
                self._jobs_ready.wait_for(lambda: self._jobs or self._state is not State.RUNNING)
                if self._state is not State.RUNNING:
                    return
                # round-robin: the oldest waiting camera first, then more while the batch fits
                batch: list[tuple[CameraAnalysis, Job]] = []
                images = 0
                while self._order:
                    size = self._jobs[self._order[0]].images
                    if batch and images + size > max_batch:
                        break
                    camera_id = self._order.popleft()
                    batch.append((self._cameras[camera_id], self._jobs.pop(camera_id)))
                    images += size
                self._busy += 1
            try:
                self._detect_batch(batch)
            except Exception:
                log.exception("detection failed on camera(s) %s", [c.camera_id for c, _ in batch])
            finally:
                self._done()

    def _detect_batch(self, batch: list[tuple[CameraAnalysis, Job]]) -> None:
        images = job_images(batch)
        models = [camera.models for camera, job in batch for _ in range(job.images)]
        started = self._clock.monotonic()
        found, calls = run_models(self._detectors, images, models, self._clock, self._latency_of)
        elapsed = self._clock.monotonic() - started
        with self._lock:
            self._metrics.detector_calls += calls
            self._metrics.detector_seconds += elapsed
        offset = 0
        for camera, job in batch:
            per_image = found[offset : offset + job.images]
            offset += job.images
            try:
                self._analyse(camera, job, per_image)
            except Exception:
                log.exception(
                    "analysis failed on camera %s frame %s",
                    camera.camera_id,
                    job.frame.seq,
                    extra={"camera": camera.camera_id},
                )

    def _latency_of(self, model: str) -> Histogram:
        histogram = self._latency.get(model)
        if histogram is None:
            histogram = self._meter.histogram(
                "citygw_detector_seconds", "One detector pass (a batch of images)", {"model": model}
            )
            self._latency[model] = histogram
        return histogram

    def _analyse(self, camera: CameraAnalysis, job: Job, per_image: list[list[Detection]]) -> None:
        """Detections of one job -> tracker -> rules -> firings for the publisher."""
        frame = job.frame
        detections, looked = frame_detections(job, per_image, self._settings.min_score)
        now = self._clock.monotonic()
        kept = [
            d
            for d in detections
            if d.score >= self._settings.min_score
            and camera.rules.keeps(d, (frame.height, frame.width))
            and not self.feedback.suppressed(camera.camera_id, d, now)
        ]
        if job.reason == "hold":
            objects = camera.tracker.hold(frame.media_time)
        else:
            objects = camera.tracker.update(kept, frame.media_time)
        size = (frame.height, frame.width)
        firings = camera.rules.evaluate(objects, frame.media_time, frame.captured_at, size)
        zone_crops = wanted_zone_crops(
            camera.rules, camera.config, objects, frame.media_time, size, camera.crop_side
        )
        again = unconfirmed(looked, objects, frame.media_time)
        with self._lock:
            camera.zone_crops = zone_crops
            camera.zone_again = camera.zone_again | again
            camera.metrics.zone_crops += len(job.zone_crops)
            if job.reason == "hold":
                camera.metrics.held += 1
            else:
                camera.metrics.frames_detected += 1
                camera.last_detect = frame.media_time
            camera.last_pass = frame.media_time
            # an open episode needs later passes too: its end is found by evaluating them
            camera.has_tracks = bool(objects) or camera.rules.has_episodes
        visible = [o.detection for o in objects if o.visible_at(frame.media_time)]
        for firing in firings:
            log.info(
                "camera %s rule %s %s (%s): %s",
                camera.camera_id,
                firing.rule.id,
                f"update {firing.seq}" if firing.is_update else "fired",
                firing.key,
                firing.title,
                extra={"camera": camera.camera_id},
            )
            with self._lock:
                self._busy += 1
            self._firings.put((firing, frame, visible), timeout=60)

    # ----------------------------------------------------------------- publisher stage

    def _publisher_loop(self) -> None:
        while True:
            item = self._firings.get()
            if item is None:
                return
            try:
                self._publisher.publish(*item)
            finally:
                self._done()


def _queue_bound(settings: AnalysisConfig, cameras: int) -> int:
    """Frames that may wait for the motion stage: as configured, else 3 per camera (32+)."""
    return settings.queue_frames or max(32, 3 * cameras)
