"""What the video gateway exports as metrics (through the `gateway.observability` port).

Everything here is read at scrape time from what the readers and the analysis pipeline
already keep: the frame loop updates no metric of its own (the detector's latency
histogram, observed once per detector pass, is the pipeline's). Per camera: whether it
gives pictures, frames per second in and analysed, reconnects, undecodable packets,
frames analysed, frames skipped before detection, and the candidates it made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateway.contract import CameraState
from gateway.observability import Kind, Metrics, Sample
from gateway.video.camera import CameraReader

log = logging.getLogger(__name__)

Readers = Callable[[], Mapping[str, CameraReader]]
#: the running `AnalysisPipeline`, or None (analysis off or failed to start)
PipelineOf = Callable[[], Any]


def export_video(metrics: Metrics, readers: Readers, pipeline: PipelineOf) -> None:
    def per_reader(read: Callable[[CameraReader], float]) -> Callable[[], list[Sample]]:
        return lambda: [((camera_id,), read(r)) for camera_id, r in sorted(readers().items())]

    def fps() -> list[Sample]:
        samples: list[Sample] = []
        for camera_id, reader in sorted(readers().items()):
            try:
                status = reader.status()
            except Exception:  # read beside the reader's thread: skip it this once
                log.debug("camera %s: no status for metrics", camera_id, exc_info=True)
                continue
            samples += [
                ((camera_id, "in"), status.fps_in),
                ((camera_id, "analysed"), status.fps_analysed),
            ]
        return samples

    camera = ("camera",)
    metrics.collect(
        "citygw_camera_up",
        "1 while the camera gives pictures (online)",
        Kind.GAUGE,
        camera,
        per_reader(lambda r: 1.0 if r.state == CameraState.ONLINE else 0.0),
    )
    metrics.collect(
        "citygw_camera_fps",
        "Pictures per second decoded (in) and handed to analysis (analysed), over 5 s",
        Kind.GAUGE,
        ("camera", "stream"),
        fps,
    )
    metrics.collect(
        "citygw_camera_reconnects_total",
        "Connections made to the camera's stream (the first one included)",
        Kind.COUNTER,
        camera,
        per_reader(lambda r: r.connects),
    )
    metrics.collect(
        "citygw_camera_decode_errors_total",
        "Packets of the camera's stream the decoder refused",
        Kind.COUNTER,
        camera,
        per_reader(lambda r: r.decode_errors),
    )
    metrics.collect(
        "citygw_camera_frames_analysed_total",
        "Frames converted and handed to analysis (at the analysis rate)",
        Kind.COUNTER,
        camera,
        per_reader(lambda r: r.frames_analysed),
    )

    def pipeline_cameras(field: str) -> Callable[[], list[Sample]]:
        def read() -> list[Sample]:
            running = pipeline()
            if running is None:
                return []
            cameras = running.metrics().cameras
            return [((camera_id,), getattr(m, field)) for camera_id, m in sorted(cameras.items())]

        return read

    metrics.collect(
        "citygw_camera_frames_skipped_total",
        "Frames dropped before detection (the analysis queue was full, or a newer frame replaced it)",
        Kind.COUNTER,
        camera,
        pipeline_cameras("skipped"),
    )
    metrics.collect(
        "citygw_video_frames_detected_total",
        "Frames the detector looked at",
        Kind.COUNTER,
        camera,
        pipeline_cameras("frames_detected"),
    )
    metrics.collect(
        "citygw_video_zone_crops_total",
        "Extra detector passes on stall zones' crops (dwell rules with with_any and a zone)",
        Kind.COUNTER,
        camera,
        pipeline_cameras("zone_crops"),
    )
    metrics.collect(
        "citygw_video_candidates_total",
        "Candidates published (first ones and updates of an episode)",
        Kind.COUNTER,
        camera,
        pipeline_cameras("candidates"),
    )
