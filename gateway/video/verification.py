"""Camera checks on the video gateway: look again when the core asks (核查 by camera).

A `VerificationRequest` names a camera this gateway pulls, the rule that fired (its
classes, zone, min count) and the boxes of the original detection. `Verifier` answers it:

- *what to look for* (`target_for`, pure): the rule's classes and zone from this
  gateway's analysis configuration (a polygon in the request wins), else the original
  detection's label and boxes;
- *looking* (`Verifier`): ``passes`` detector passes on fresh frames spread over the
  window, each judged by `judge` (pure): the objects of those classes standing in the
  zone (bottom-centre, as the rules test), or overlapping an original box;
- *the verdict* (`verdict_of`, pure): ``still_present`` when at least ``present_ratio``
  of the passes saw the condition, ``cleared`` when fewer did, ``camera_unavailable``
  when no pass had a fresh frame; with annotated before/after snapshots (the first and
  the last judged pass, zone outline and boxes drawn).

Durable and idempotent: a request is written to ``state_dir/camera-checks/`` when it is
taken (checks cut short by a stop run again at the next start) and its answer when it
is made; a repeated request (the same id) gets the stored answer again, the same message
id, which the core stores once. Answers go out through the durable outbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from gateway.clock import Clock
from gateway.contract import (
    ContractError,
    Evidence,
    Source,
    VerificationRequest,
    VerificationResult,
    VerificationVerdict,
    parse_message,
    stable_message_id,
)
from gateway.durable_file import write_durably
from gateway.ports import InboundMessage
from gateway.video.analysis.rules import iou, point_in_polygon
from gateway.video.analysis.settings import AnalysisConfig, CountRule, LineRule
from gateway.video.detection import Detection
from gateway.video.evidence import snapshot_evidence
from gateway.video.frame import Frame
from gateway.video.settings import CameraCheckSettings

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

_ZONE_COLOUR = (0, 215, 255)  # BGR amber: the zone (or original boxes) looked at
_TEXT_COLOUR = (255, 255, 255)


class FrameDetector(Protocol):
    """The detector on one whole frame (`AnalysisPipeline.detect_frame`): boxes above the
    score threshold that the camera's class filters keep, in the frame's pixels."""

    def detect_frame(self, frame: Frame) -> list[Detection]: ...


# --------------------------------------------------------------------------- pure


@dataclass(frozen=True)
class Target:
    """What a check looks for in a frame of ``frame_size`` (width, height)."""

    classes: frozenset[str]  # labels; empty: any object
    polygon: tuple[tuple[float, float], ...] | None  # zone, fractions of the frame
    boxes: tuple[Box, ...]  # original boxes, in this frame's pixels (used without a zone)
    min_count: int = 1
    box_iou: float = 0.3


def target_for(
    request: VerificationRequest,
    analysis: AnalysisConfig,
    frame_size: tuple[int, int],
    *,
    box_iou: float = 0.3,
) -> Target:
    """The rule's classes and zone on this gateway; the request's label and boxes else."""
    camera = analysis.cameras.get(request.camera_id)
    rule = None
    if camera is not None and request.rule_id:
        rule = next((r for r in camera.rules if r.id == request.rule_id), None)
    classes = frozenset(rule.classes) if rule is not None else frozenset()
    if not classes and request.label:
        classes = frozenset({request.label})
    polygon: tuple[tuple[float, float], ...] | None = None
    if request.zone_polygon:
        polygon = tuple((float(x), float(y)) for x, y in request.zone_polygon)
    else:
        zone_id = request.zone_id or (rule.zone if rule is not None else None)
        zone = camera.zones.get(zone_id) if camera is not None and zone_id else None
        if zone is not None and not isinstance(rule, LineRule):
            polygon = tuple((float(x), float(y)) for x, y in zone.polygon)
    width, height = frame_size
    scale_x = scale_y = 1.0
    if request.frame_size is not None:
        scale_x = width / request.frame_size[0]
        scale_y = height / request.frame_size[1]
    boxes = tuple(
        (x1 * scale_x, y1 * scale_y, x2 * scale_x, y2 * scale_y) for x1, y1, x2, y2 in request.boxes
    )
    min_count = rule.min_count if isinstance(rule, CountRule) else 1
    return Target(classes, polygon, boxes, min_count, box_iou)


def judge(
    detections: Sequence[Detection], target: Target, frame_size: tuple[int, int]
) -> list[Detection]:
    """The detections that meet the target's condition in one frame."""
    width, height = frame_size
    found = []
    for detection in detections:
        if target.classes and detection.label not in target.classes:
            continue
        if target.polygon is not None:
            x, y = detection.bottom_centre
            if not point_in_polygon((x / width, y / height), list(target.polygon)):
                continue
        elif target.boxes and not any(
            iou(detection, _as_detection(box)) >= target.box_iou for box in target.boxes
        ):
            continue
        found.append(detection)
    return found


def verdict_of(passes: int, present: int, ratio: float) -> VerificationVerdict:
    if passes == 0:
        return VerificationVerdict.CAMERA_UNAVAILABLE
    if present >= ratio * passes:
        return VerificationVerdict.STILL_PRESENT
    return VerificationVerdict.CLEARED


def result_id_for(request_id: str) -> str:
    """One answer per request: a repeated request gets the same message id."""
    return stable_message_id("verify-result", request_id)


def _as_detection(box: Box) -> Detection:
    return Detection(box[0], box[1], box[2], box[3], 1.0, -1, "original")


def annotated(frame: Frame, target: Target, found: Sequence[Detection], caption: str) -> np.ndarray:
    """A copy of the frame with the zone (or the original boxes) outlined and a caption."""
    canvas = frame.image.copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 300))
    if target.polygon is not None:
        points = np.array(
            [[round(x * (width - 1)), round(y * (height - 1))] for x, y in target.polygon],
            dtype=np.int32,
        )
        cv2.polylines(canvas, [points], True, _ZONE_COLOUR, thickness)
    else:
        for x1, y1, x2, y2 in target.boxes:
            cv2.rectangle(
                canvas, (round(x1), round(y1)), (round(x2), round(y2)), _ZONE_COLOUR, thickness
            )
    scale = max(0.4, min(width, height) / 900)
    text = caption.encode("ascii", "replace").decode("ascii")
    cv2.putText(
        canvas, text, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2
    )
    cv2.putText(
        canvas, text, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOUR, thickness
    )
    return canvas


# --------------------------------------------------------------------------- memory


class CheckMemory:
    """Requests taken and answers made, one JSON file each under ``directory``.

    Writes go to a temporary file renamed into place, so a file is whole or absent.
    At most ``remember`` answers are kept (the oldest go first).
    """

    def __init__(self, directory: Path, remember: int) -> None:
        self._directory = directory
        self._remember = remember
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, request_id: str, kind: str) -> Path:
        return self._directory / f"{request_id}.{kind}.json"

    def _write(self, path: Path, data: bytes) -> None:
        write_durably(path, data)

    def answer(self, request_id: str) -> VerificationResult | None:
        try:
            data = self._path(request_id, "result").read_bytes()
        except FileNotFoundError:
            return None
        try:
            found = parse_message(data, expect=VerificationResult)
        except ContractError as exc:
            log.error("stored camera check answer %s unreadable: %s", request_id, exc)
            return None
        assert isinstance(found, VerificationResult)
        return found

    def taken(self, request: VerificationRequest) -> None:
        with self._lock:
            self._write(self._path(request.id, "request"), request.to_json())

    def answered(self, request_id: str, result: VerificationResult) -> None:
        with self._lock:
            self._write(self._path(request_id, "result"), result.to_json())
            self._path(request_id, "request").unlink(missing_ok=True)
            answers = sorted(self._directory.glob("*.result.json"), key=lambda p: p.stat().st_mtime)
            for old in answers[: max(0, len(answers) - self._remember)]:
                old.unlink(missing_ok=True)

    def unanswered(self) -> list[VerificationRequest]:
        """Requests taken but not answered (a stop cut their check short)."""
        found = []
        for path in sorted(self._directory.glob("*.request.json")):
            try:
                request = parse_message(path.read_bytes(), expect=VerificationRequest)
            except (OSError, ContractError) as exc:
                log.error("stored camera check request %s unreadable, dropped: %s", path.name, exc)
                path.unlink(missing_ok=True)
                continue
            assert isinstance(request, VerificationRequest)
            found.append(request)
        return found


# --------------------------------------------------------------------------- the service


class VerifierState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass
class _Pass:
    frame: Frame
    found: list[Detection] = field(default_factory=list)
    present: bool = False


class Verifier:
    """Answers camera checks for the cameras of this gateway (see the module docstring)."""

    def __init__(
        self,
        settings: CameraCheckSettings,
        analysis: AnalysisConfig,
        *,
        state_dir: Path,
        source: Source,
        cameras: Callable[[], set[str]],
        latest_frame: Callable[[str], Frame | None],
        detector: FrameDetector | None,
        publish: Callable[[VerificationResult], object],
        clock: Clock,
        snapshot_quality: int = 85,
    ) -> None:
        self._settings = settings
        self._analysis = analysis
        self._memory = CheckMemory(state_dir / "camera-checks", settings.remember)
        self._source = source
        self._cameras = cameras
        self._latest_frame = latest_frame
        self._detector = detector
        self._publish = publish
        self._clock = clock
        self._quality = snapshot_quality
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._turns = threading.Semaphore(settings.max_concurrent)
        self._stopping = threading.Event()
        self.state = VerifierState.NEW
        self.answered = 0
        self.repeated = 0

    def _set_state(self, state: VerifierState) -> None:
        if state != self.state:
            log.info("camera checks %s -> %s", self.state, state)
            self.state = state

    def start(self) -> None:
        if self.state is not VerifierState.NEW:
            return
        self._set_state(VerifierState.RUNNING)
        for request in self._memory.unanswered():
            log.info(
                "camera check %s of case %s resumed after a restart", request.id, request.case_id
            )
            self.handle(request)

    def stop(self, timeout: float = 10.0) -> None:
        if self.state is not VerifierState.RUNNING:
            self._set_state(VerifierState.STOPPED)
            return
        self._stopping.set()
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout)
        self._set_state(VerifierState.STOPPED)

    def wait_idle(self, timeout: float) -> bool:
        """True once no check is running (tests, tools)."""
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            return not self._running

    # ------------------------------------------------------------------ requests

    def on_request_message(self, message: InboundMessage) -> None:
        """A handler for ``topics.all_verification_requests`` (paho's thread: never blocks)."""
        try:
            request = parse_message(message.payload, expect=VerificationRequest)
        except ContractError as exc:
            log.warning("camera check request on %s ignored: %s", message.topic, exc)
        else:
            assert isinstance(request, VerificationRequest)
            try:
                self.handle(request)
            except Exception:
                log.exception("camera check request %s failed", request.id)
        message.ack()

    def handle(self, request: VerificationRequest) -> str:
        """``ignored`` (not our camera, or stopped), ``repeated`` (answered before: the same
        answer again), ``running`` (already being checked) or ``started``."""
        if self.state is not VerifierState.RUNNING or request.camera_id not in self._cameras():
            log.debug("camera check %s for camera %s: not ours", request.id, request.camera_id)
            return "ignored"
        stored = self._memory.answer(request.id)
        if stored is not None:
            log.info("camera check %s asked again: the same answer again", request.id)
            self._publish(stored)
            self.repeated += 1
            return "repeated"
        with self._lock:
            if request.id in self._running:
                return "running"
            self._memory.taken(request)
            thread = threading.Thread(
                target=self._run,
                args=(request,),
                name=f"camera[{request.camera_id}].check",
                daemon=True,
            )
            self._running[request.id] = thread
        thread.start()
        return "started"

    def _run(self, request: VerificationRequest) -> None:
        try:
            with self._turns:
                if self._stopping.is_set():
                    return  # kept on disk: checked at the next start
                result = self.check(request)
                if self._stopping.is_set():
                    return  # cut short by the stop: kept on disk, looked at again at the start
                self._memory.answered(request.id, result)
                self._publish(result)
                self.answered += 1
                log.info(
                    "camera check %s of case %s on camera %s: %s (%s)",
                    request.id,
                    request.case_id,
                    request.camera_id,
                    result.verdict,
                    result.detail,
                )
        except Exception:
            log.exception("camera check %s failed; it runs again at the next start", request.id)
        finally:
            with self._lock:
                self._running.pop(request.id, None)

    # ------------------------------------------------------------------ looking

    def _fresh(self, camera_id: str, after_seq: int | None) -> Frame | None:
        frame = self._latest_frame(camera_id)
        if frame is None or (after_seq is not None and frame.seq <= after_seq):
            return None
        if self._clock.monotonic() - frame.monotonic > self._settings.max_frame_age_s:
            return None
        return frame

    def _first_frame(self, camera_id: str) -> bool:
        deadline = self._clock.monotonic() + self._settings.wait_for_frame_s
        while self._fresh(camera_id, None) is None:
            if self._clock.monotonic() >= deadline or self._stopping.wait(0.2):
                return False
        return True

    def check(self, request: VerificationRequest) -> VerificationResult:
        """Look for the window and judge (blocks for about the window)."""
        settings = self._settings
        window_s = request.window_s or settings.window_s
        started = self._clock.now()
        passes: list[_Pass] = []
        reason = ""
        if self._detector is None:
            reason = "analysis is off on this gateway: nothing to look with"
        elif not self._first_frame(request.camera_id):
            reason = f"no fresh frame from camera {request.camera_id}"
        else:
            passes = self._look(request, window_s)
            if not passes:
                reason = f"no fresh frame from camera {request.camera_id} during the window"
        present = sum(1 for p in passes if p.present)
        verdict = verdict_of(len(passes), present, settings.present_ratio)
        target = target_for(request, self._analysis, _size(passes[-1].frame)) if passes else None
        evidence = []
        before_sha = after_sha = None
        if passes and target is not None:
            first, last = passes[0], passes[-1]
            before = self._snapshot(request, target, first, "before")
            after = self._snapshot(request, target, last, "after")
            evidence = [before, after] if after.sha256 != before.sha256 else [before]
            before_sha, after_sha = before.sha256, after.sha256
        detail = reason or (
            f"{present} of {len(passes)} passes saw "
            f"{'/'.join(sorted(target.classes)) if target and target.classes else 'an object'}"
            f"{' in zone ' + request.zone_id if request.zone_id else ''}"
        )
        return VerificationResult.create(
            source=self._source,
            id=result_id_for(request.id),
            request_id=request.id,
            case_id=request.case_id,
            camera_id=request.camera_id,
            verdict=verdict,
            detail=detail[:500],
            passes=len(passes),
            passes_present=present,
            checked_from=passes[0].frame.captured_at if passes else started,
            checked_to=passes[-1].frame.captured_at if passes else self._clock.now(),
            evidence=evidence,
            before_sha256=before_sha,
            after_sha256=after_sha,
            facts={
                "rule_id": request.rule_id,
                "zone_id": request.zone_id,
                "classes": sorted(target.classes) if target else [],
                "window_s": window_s,
                "found": [
                    {
                        "label": d.label,
                        "score": round(d.score, 3),
                        "box": [round(v, 1) for v in (d.x1, d.y1, d.x2, d.y2)],
                    }
                    for d in (passes[-1].found if passes else [])
                ],
            },
        )

    def _look(self, request: VerificationRequest, window_s: float) -> list[_Pass]:
        assert self._detector is not None
        count = self._settings.passes
        step = window_s / (count - 1) if count > 1 else 0.0
        begin = self._clock.monotonic()
        passes: list[_Pass] = []
        last_seq: int | None = None
        for index in range(count):
            delay = begin + index * step - self._clock.monotonic()
            if delay > 0 and self._stopping.wait(delay):
                break
            frame = self._fresh(request.camera_id, last_seq)
            if frame is None:
                continue  # no new picture for this pass: judged on the others
            last_seq = frame.seq
            size = _size(frame)
            target = target_for(request, self._analysis, size, box_iou=self._settings.box_iou)
            found = judge(self._detector.detect_frame(frame), target, size)
            passes.append(_Pass(frame, found, len(found) >= target.min_count))
        return passes

    def _snapshot(
        self, request: VerificationRequest, target: Target, look: _Pass, which: str
    ) -> Evidence:
        caption = f"{which} {look.frame.captured_at:%Y-%m-%d %H:%M:%S}Z {request.camera_id}"
        image = annotated(look.frame, target, look.found, caption)
        return snapshot_evidence(
            image,
            look.found,
            name=f"check-{which}-{request.case_id[:40]}-{request.request_seq}.jpg",
            quality=self._quality,
        )


def _size(frame: Frame) -> tuple[int, int]:
    return frame.width, frame.height
