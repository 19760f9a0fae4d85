"""The detections of detector jobs: the models run on a batch of jobs' images, and each
job's boxes brought back to its frame.

A job's images are its crops (motion regions, or the whole frame) and then its zone
crops (`zone_crops`: a closer look at a stall's zone). Each model sees the images of the
cameras that run it and gives those cameras only the labels they take from it
(`model_plan`). Boxes found in a crop are moved to frame pixels; a zone crop keeps only
its rule's with_any objects (`zone_crops.seen_in_zone_crop`); an object seen in two
overlapping images is kept once (`motion.merge_crop_detections`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from gateway.clock import Clock
from gateway.observability import Histogram
from gateway.video.analysis.gating import CameraAnalysis, Job
from gateway.video.analysis.model_plan import ModelUse
from gateway.video.analysis.motion import Region, merge_crop_detections
from gateway.video.analysis.ports import Detector
from gateway.video.analysis.zone_crops import ZoneCrop, seen_in_zone_crop
from gateway.video.detection import Detection

#: what a zone crop's look kept, in crop pixels
ZoneLook = tuple[ZoneCrop, list[Detection]]


def job_images(batch: Sequence[tuple[CameraAnalysis, Job]]) -> list[np.ndarray]:
    """The images the detector looks at for ``batch``, job after job (`Job.images` each)."""
    return [
        job.frame.image[c.y1 : c.y2, c.x1 : c.x2]
        for _, job in batch
        for c in [*job.crops, *(z.region for z in job.zone_crops)]
    ]


def run_models(
    detectors: Mapping[str, Detector],
    images: Sequence[np.ndarray],
    models: Sequence[tuple[ModelUse, ...]],
    clock: Clock,
    latency_of: Callable[[str], Histogram],
) -> tuple[list[list[Detection]], int]:
    """Each image's detections (``models[i]``: what image ``i``'s camera runs) and the
    inferences it took; each model's pass is timed into ``latency_of(model)``."""
    found: list[list[Detection]] = [[] for _ in images]
    calls = 0
    for name, detector in detectors.items():
        # each model sees the images of the cameras that run it, gives the labels
        # those cameras take from it
        wanted = [
            (i, use.labels) for i, uses in enumerate(models) for use in uses if use.name == name
        ]
        if not wanted:
            continue
        begun = clock.monotonic()
        results = detector.detect([images[i] for i, _ in wanted])
        latency_of(name).observe(clock.monotonic() - begun)
        calls += len(wanted)
        for (i, labels), detections in zip(wanted, results, strict=True):
            found[i].extend(d for d in detections if labels is None or d.label in labels)
    return found, calls


def frame_detections(
    job: Job, per_image: list[list[Detection]], min_score: float
) -> tuple[list[Detection], list[ZoneLook]]:
    """The job's detections in frame pixels (merged across its images), and what each of
    its zone crops kept."""
    looked = [
        (zone, seen_in_zone_crop(zone, found, min_score))
        for zone, found in zip(job.zone_crops, per_image[len(job.crops) :], strict=True)
    ]
    seen = [*zip(job.crops, per_image, strict=False), *((z.region, f) for z, f in looked)]
    detections: list[Detection] = []
    for crop, found in seen:
        detections += [in_frame(d, crop) for d in found]
    if len(seen) > 1:
        detections = merge_crop_detections(detections)
    return detections, looked


def in_frame(d: Detection, crop: Region) -> Detection:
    """A box found in ``crop``, in frame pixels."""
    return replace(d, x1=d.x1 + crop.x1, y1=d.y1 + crop.y1, x2=d.x2 + crop.x1, y2=d.y2 + crop.y1)
