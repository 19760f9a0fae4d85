"""The demo's sample candidates (``citygw-demo --samples N``): camera candidates with a real
JPEG, sent through a durable outbox over MQTT as an edge gateway sends them, N in each
district of the demo area (`SAMPLE_SITES`): along a kerb of 海州区 幸福路街道 幸福南路社区
from camera ``demo-cam-1`` and of 连云区 墟沟街道 海棠社区 from ``demo-cam-2``, one grid each.
They wait in 待审核 of the city desk and of their district's desk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway import bootstrap
from gateway.cli_texts import DEMO
from gateway.contract import CandidateCase, Evidence, EvidenceRole, Location, Source, SourceKind
from gateway.demo_area import LY_SAMPLE_COMMUNITY, SAMPLE_COMMUNITY, DemoArea
from gateway.demo_broker import SAMPLES
from gateway.gis.demo_data import HAIZHOU, LIANYUN

if TYPE_CHECKING:
    from gateway.config import Config


@dataclass(frozen=True)
class SampleSite:
    """Where one district's samples come from: the camera they claim and the community
    whose grids they lie in."""

    camera_id: str
    district: str
    community: str  # 12 digits: the samples take its grids 07, 08, ...
    first_track: int  # the track id of the first sample (the next: + 1, ...)


#: the camera the 海州区 sample candidates claim to come from
SAMPLE_CAMERA_ID = "demo-cam-1"
#: the 连云区 samples'
LY_SAMPLE_CAMERA_ID = "demo-cam-2"
SAMPLE_SITES = (
    SampleSite(SAMPLE_CAMERA_ID, HAIZHOU.district, SAMPLE_COMMUNITY, 100),
    SampleSite(LY_SAMPLE_CAMERA_ID, LIANYUN.district, LY_SAMPLE_COMMUNITY, 200),
)
#: the cameras the sample sender may publish for (the demo broker's ACL)
SAMPLE_CAMERAS = [site.camera_id for site in SAMPLE_SITES]


def send_samples(
    config: Config, count: int, area: DemoArea, say: Callable[[str, str], None]
) -> None:
    """``count`` sample candidates for each of `SAMPLE_SITES`, each at a point of its own
    grid of ``area`` (the map shows them there); ``say(part, line)`` reports each."""
    connection = bootstrap.mqtt_connection(config, SAMPLES)
    publisher = bootstrap.edge_publisher(config, SAMPLES, connection)
    contract = bootstrap.contract_publisher(config, publisher)
    publisher.start()
    try:
        for site in SAMPLE_SITES:
            for index in range(count):
                candidate = _sample(site, index, area)
                contract.candidate(candidate)
                grid = candidate.location.grid_code
                say("demo", DEMO["sample_queued"].format(id=candidate.id, grid=grid))
        if not publisher.wait_drained(30):
            say("demo", DEMO["samples_left"])
    finally:
        publisher.stop()
        connection.stop()
        publisher.outbox.close()


def _sample(site: SampleSite, index: int, area: DemoArea) -> CandidateCase:
    import cv2
    import numpy as np

    image = np.full((480, 640, 3), 170, np.uint8)
    cv2.rectangle(image, (0, 300), (640, 480), (80, 80, 80), -1)
    x = 60 + 180 * index
    cv2.rectangle(image, (x, 320), (x + 150, 420), (30, 30, 160), -1)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    grid_code, lon, lat = area.sample_point(index, site.community)
    return CandidateCase.create(
        source=Source(kind=SourceKind.CAMERA, id=site.camera_id),
        event_code="0505",
        title="机动车乱停放（示例）",
        location=Location(
            grid_code=grid_code,
            district=site.district,
            camera_id=site.camera_id,
            zone_id="kerb",
            lat=lat,
            lon=lon,
        ),
        evidence=[
            Evidence.from_bytes(
                jpeg.tobytes(),
                media_type="image/jpeg",
                role=EvidenceRole.SNAPSHOT,
                name="snapshot.jpg",
            )
        ],
        facts={
            "sample": True,
            "zone_name": "路边",
            "label": "car",
            "score": 0.9,
            "box": [x, 320, x + 150, 420],
            "frame_size": [640, 480],
            "track_id": site.first_track + index,
        },
    )
