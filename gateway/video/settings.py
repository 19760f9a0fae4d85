"""Configuration of the video gateway (`citygw video`): cameras, ingest, live view, evidence.

Credentials never sit in URLs: ``username``/``password`` are separate fields (use
``${ENV}`` references) and are put into the RTSP/ONVIF requests at connect time only.
Probing cameras is a start-up step of the daemon, never part of validation.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.gis.camera_places import footprint_problem, share_inside
from gateway.settings_types import LiveViewSecret
from gateway.video.analysis.settings import AnalysisConfig

_ID = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"


#: the least share of a zone's own footprint inside its camera's footprint
MIN_ZONE_SHARE_IN_VIEW = 0.5


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnvifEventRule(_Section):
    """Turns a camera's own ONVIF event (e.g. its illegal-parking rule) into a candidate case."""

    topic: str = Field(
        min_length=1,
        max_length=300,
        description="ONVIF topic, e.g. tns1:RuleEngine/FieldDetector/ObjectsInside "
        "(a trailing /* matches a whole subtree)",
    )
    data: dict[str, str] = Field(
        default_factory=dict,
        description="SimpleItem values the event must carry, e.g. {IsInside: 'true'}",
    )
    event_code: Annotated[str, Field(pattern=r"^\d{4}$")] = Field(
        description="CJ/T 214 event code of the candidate, e.g. 0505"
    )
    title: str = Field(default="", max_length=200, description="candidate title")
    cooldown_s: float = Field(
        default=300.0, ge=0, le=86400, description="one candidate per camera and rule per this"
    )
    zone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the zone this camera rule watches, one of the camera's "
        "video.analysis.cameras.<id>.zones (drawn over the same ground as the rule on the "
        "device; match the device's rule by its name in data, e.g. {Rule: 'MyFieldDetector1'}):"
        " its footprint, grid_code and name place the candidate as for the zone's own rules;"
        " unset: the camera's footprint or grid_code",
    )


class CameraOnvifConfig(_Section):
    url: str = Field(
        description="device service URL, e.g. http://10.0.0.5/onvif/device_service",
        min_length=8,
        max_length=500,
    )
    profile: str | None = Field(
        default=None,
        max_length=64,
        description="profile token for analysis; default: the profile closest to analysis_width",
    )
    main_profile: str | None = Field(
        default=None,
        max_length=64,
        description="profile token of the main stream (evidence clips, live view); default: "
        "the largest profile other than the analysis one (none: the analysis stream serves all)",
    )
    analysis_width: int = Field(
        default=640, ge=64, le=8192, description="preferred width of the detection sub-stream"
    )
    events: bool = Field(default=True, description="subscribe to the camera's PullPoint events")
    analysis_preset: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="PTZ preset token of the view the zone rules are drawn for: while the "
        "camera looks elsewhere (moved from the live view) its rules are paused",
    )
    event_rules: list[OnvifEventRule] = Field(
        default_factory=list, max_length=64, description="camera events that become candidates"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s):// URL with a host")
        if parts.username or parts.password:
            raise ValueError("put credentials in username/password, not in the URL")
        return value


class CameraConfig(_Section):
    id: str = Field(pattern=_ID, description="camera id: topics, evidence and logs carry it")
    name: str = Field(default="", max_length=200, description="what people call it")
    enabled: bool = Field(default=True, description="false: configured but not pulled")
    rtsp_url: str | None = Field(
        default=None,
        max_length=1000,
        description="stream to analyse; absent: asked from the ONVIF device",
    )
    main_rtsp_url: str | None = Field(
        default=None,
        max_length=1000,
        description="full-resolution main stream for evidence clips and live view; absent: "
        "rtsp_url serves everything (with onvif only: the device's largest profile)",
    )
    onvif: CameraOnvifConfig | None = Field(
        default=None, description="ONVIF device of this camera (stream URI, events)"
    )
    username: str | None = Field(default=None, max_length=200, description="camera user")
    password: SecretStr | None = Field(
        default=None, description="camera password; e.g. ${CAM_GATE3_PASSWORD}"
    )
    grid_code: Annotated[str | None, Field(pattern=r"^\d{14}$")] = Field(
        default=None,
        description="unit grid code the camera watches (not for a zone with its own footprint)",
    )
    district: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="where the camera stands (CGCS2000/WGS84)"
    )
    lon: float | None = Field(
        default=None, ge=-180, le=180, description="where the camera stands (CGCS2000/WGS84)"
    )
    footprint: list[tuple[float, float]] | None = Field(
        default=None,
        min_length=3,
        max_length=64,
        description="the ground the camera sees, as [lon, lat] corners (CGCS2000/WGS84): "
        "its candidates belong to the grid this covers most (else the grid of lon/lat; "
        "grid_code and the core's camera_grids rows override both; a zone's own footprint "
        "in video.analysis comes before all three for that zone's candidates)",
    )

    @field_validator("rtsp_url", "main_rtsp_url")
    @classmethod
    def _rtsp_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
            raise ValueError("must be an rtsp:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("put credentials in username/password, not in the URL")
        return value

    @model_validator(mode="after")
    def _a_stream_source(self) -> CameraConfig:
        if self.rtsp_url is None and self.onvif is None:
            raise ValueError("give rtsp_url or onvif (to ask the device for its stream URI)")
        if self.password is not None and self.username is None:
            raise ValueError("password given without username")
        if self.main_rtsp_url is not None and self.rtsp_url is None:
            raise ValueError("main_rtsp_url needs rtsp_url (the stream to analyse) beside it")
        if self.main_rtsp_url is not None and self.main_rtsp_url == self.rtsp_url:
            raise ValueError("main_rtsp_url is rtsp_url: leave it out (one pull serves all)")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together (where the camera stands)")
        if self.footprint is not None:
            problem = footprint_problem(self.footprint)
            if problem is not None:
                raise ValueError(problem)
        return self


class IngestConfig(_Section):
    watchdog_s: float = Field(
        default=20.0, ge=1, le=600, description="no frame for this long: reconnect"
    )
    open_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="timeout of connecting and starting a stream"
    )
    reconnect_min_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="first retry delay (while waiting, a stream server that was gone is "
        "probed twice a second: when it answers again the retry comes at once)",
    )
    reconnect_max_s: float = Field(
        default=300.0, gt=0, le=86400, description="longest retry delay (backoff doubles)"
    )
    max_fps_in: float = Field(
        default=60.0, gt=0, le=1000, description="above this incoming rate a stream is a runaway"
    )
    status_interval_s: float = Field(
        default=60.0, ge=5, le=3600, description="republish each camera's status this often"
    )
    decoder_threads: int = Field(
        default=1, ge=1, le=16, description="decoder threads per camera (1: lowest latency)"
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> IngestConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class EvidenceConfig(_Section):
    clip_buffer_s: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="seconds of encoded video kept per camera (0: no clips)",
    )
    clip_buffer_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024 * 1024,
        le=1024**3,
        description="bytes of encoded video kept per camera at most",
    )
    jpeg_quality: int = Field(default=85, ge=10, le=100, description="snapshot JPEG quality")


class MainStreamConfig(_Section):
    """How the main (full-resolution) stream is used beside the analysed sub-stream.

    Analysis always decodes the sub-stream only. The main stream is never decoded for
    analysis: its encoded packets feed the evidence ring (demuxing costs little), and it
    is decoded only while a live viewer watches. A main-stream failure has its own
    watchdog and backoff and never touches analysis (clips and live view then fall back
    to the sub-stream).
    """

    enabled: bool = Field(
        default=True, description="use a camera's main stream where it has one (false: one pull)"
    )
    ring: bool = Field(
        default=True,
        description="demux the main stream all the time into the evidence ring (no decoding), "
        "so clips are full resolution and hold the seconds before an event; false: clips "
        "come from the sub-stream and the main stream is pulled only while someone watches",
    )
    live_grace_s: float = Field(
        default=15.0,
        ge=0,
        le=600,
        description="keep decoding (and pulling, without ring) the main stream this long "
        "after the last live viewer left, so a viewer coming back starts at once",
    )


class LiveViewConfig(_Section):
    enabled: bool = Field(default=True, description="serve WebRTC live view")
    host: str = Field(default="127.0.0.1", min_length=1, description="signalling HTTP address")
    port: int = Field(default=8091, ge=0, le=65535, description="signalling HTTP port (0: any)")
    max_viewers: int = Field(default=8, ge=1, le=64, description="viewers at once, all cameras")
    fps: float = Field(default=10.0, gt=0, le=30, description="most frames per second sent")
    allow_origins: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="web origins (e.g. https://console.example) allowed to signal cross-origin "
        "(CORS); empty: same origin only (serve /live/ through the console's reverse proxy)",
    )
    ice_servers: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="STUN/TURN URLs offered to viewers (e.g. stun:stun.internal:3478); "
        "empty: none (viewers must reach this host directly)",
    )
    token_secret: LiveViewSecret = Field(
        default=None,
        description="secret shared with the core, which signs live-view grants "
        "(gateway.live_tokens; at least 32 characters); e.g. ${CITYGW_LIVE_VIEW_SECRET:-}. "
        "Empty: offers are accepted from loopback peers only (development)",
    )

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(f"{origin!r} is not an origin like https://console.example:8443")
        return value

    @field_validator("ice_servers")
    @classmethod
    def _ice(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:/turn: URL")
        return value


class DiscoveryConfig(_Section):
    address: str | None = Field(
        default=None, description="local IPv4 address to probe from (default: all interfaces)"
    )
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="how long to wait for replies")


class CameraCheckSettings(_Section):
    """Looking again when the core asks (核查 by camera): the rule's classes over fresh frames."""

    enabled: bool = Field(default=True, description="answer the core's camera-check requests")
    window_s: float = Field(
        default=10.0, gt=0, le=300, description="how long to look (unless the request says)"
    )
    passes: int = Field(
        default=4, ge=1, le=50, description="detector passes spread over the window"
    )
    present_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="share of the passes that must see the condition for still_present",
    )
    max_frame_age_s: float = Field(
        default=3.0, gt=0, le=60, description="a frame older than this is not a fresh look"
    )
    wait_for_frame_s: float = Field(
        default=15.0,
        ge=0,
        le=600,
        description="before the window, wait this long for a camera's first fresh frame "
        "(a gateway just started); none by then: camera_unavailable",
    )
    box_iou: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="without a zone: overlap with an original box that counts as the same place",
    )
    max_concurrent: int = Field(
        default=2, ge=1, le=16, description="checks run at once; more wait their turn"
    )
    remember: int = Field(
        default=2000,
        ge=10,
        le=1_000_000,
        description="answers kept on disk to repeat for a repeated request",
    )


class VideoConfig(_Section):
    analysis_fps: float = Field(
        default=5.0, gt=0, le=30, description="frames per second decoded for analysis"
    )
    onvif_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="timeout of each ONVIF call"
    )
    cameras: list[CameraConfig] = Field(
        default_factory=list, max_length=256, description="cameras this gateway pulls"
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="RTSP ingest")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="clips, JPEGs")
    live_view: LiveViewConfig = Field(default_factory=LiveViewConfig, description="WebRTC")
    main_stream: MainStreamConfig = Field(
        default_factory=MainStreamConfig, description="main stream: clips and live view"
    )
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig, description="WS-Discovery")
    analysis: AnalysisConfig = Field(
        default_factory=AnalysisConfig, description="motion, detector, zones, rules"
    )
    camera_check: CameraCheckSettings = Field(
        default_factory=CameraCheckSettings, description="camera checks the core asks for"
    )

    @model_validator(mode="after")
    def _unique_camera_ids(self) -> VideoConfig:
        seen: set[str] = set()
        for camera in self.cameras:
            if camera.id in seen:
                raise ValueError(f"camera id {camera.id!r} is used twice")
            seen.add(camera.id)
        return self

    @model_validator(mode="after")
    def _event_rule_zones_exist(self) -> VideoConfig:
        """A camera rule's zone is one of that camera's analysis zones."""
        for index, camera in enumerate(self.cameras):
            if camera.onvif is None:
                continue
            analysed = self.analysis.cameras.get(camera.id)
            zones = analysed.zones if analysed is not None else {}
            for number, rule in enumerate(camera.onvif.event_rules):
                if rule.zone is not None and rule.zone not in zones:
                    raise ValueError(
                        f"video.cameras.{index}.onvif.event_rules.{number}.zone: {rule.zone!r} "
                        f"is not a zone of video.analysis.cameras.{camera.id}.zones"
                        + (f" (it has {', '.join(sorted(zones))})" if zones else " (it has none)")
                    )
        return self

    @model_validator(mode="after")
    def _zone_ground_in_view(self) -> VideoConfig:
        """A zone's own footprint lies mostly in its camera's footprint when both are given:
        a zone drawn on ground the camera does not see would file its cases there."""
        for index, camera in enumerate(self.cameras):
            analysed = self.analysis.cameras.get(camera.id)
            if camera.footprint is None or analysed is None:
                continue
            for name, zone in analysed.zones.items():
                if zone.footprint is None:
                    continue
                share = share_inside(zone.footprint, camera.footprint)
                if share < MIN_ZONE_SHARE_IN_VIEW:
                    raise ValueError(
                        f"video.analysis.cameras.{camera.id}.zones.{name}.footprint: only "
                        f"{share:.0%} of it lies in what the camera sees "
                        f"(video.cameras.{index}.footprint); a zone's ground must be mostly "
                        "in its camera's view"
                    )
        return self
