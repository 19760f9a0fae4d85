"""Configuration of the core workflow service (`citygw core`).

One model per concern: storage and HTTP (`CoreConfig` itself), the working calendar,
time limits, the responsibility (dispatch) table, camera → grid mapping, duplicate
detection, evaluation weights, camera health, the console's event stream and live-view
grants. Tables are inline here so the one config file says
everything; `config/citygw.example.yaml` shows a filled-in example.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.core.desk_settings import AgentDeskConfig, RecordingsConfig
from gateway.core.http_tls_settings import HttpTlsConfig
from gateway.core.organisation_settings import OrganisationConfig
from gateway.settings_types import LiveViewSecret, TimeZoneName

_PERIOD = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarConfig(_Section):
    """The working calendar deadlines are counted on (工作时/工作日; 自然时 need none).

    Statutory holidays and the make-up working days (调休) of the State Council's yearly
    schedule come from a kept library (``official_holidays``); ``holidays`` and
    ``extra_workdays`` override it (a local holiday, a day the centre works anyway). A
    year neither the library nor ``listed_years`` covers is counted provisionally: its
    statutory holidays (全国年节及纪念日放假办法, with 补假, without 调休), with a warning
    in /healthz, the metrics and the log, and deadlines reaching it marked 暂算.
    """

    timezone: TimeZoneName = Field(
        default="Asia/Shanghai", description="IANA zone of the working day"
    )
    workdays: list[int] = Field(
        default=[0, 1, 2, 3, 4],
        description="weekdays that are working days (0 = Monday ... 6 = Sunday)",
    )
    periods: list[str] = Field(
        default=["09:00-12:00", "13:00-18:00"],
        min_length=1,
        max_length=6,
        description="working periods of a working day, HH:MM-HH:MM, in order, not overlapping",
    )
    official_holidays: Literal["chinese_calendar", "none"] = Field(
        default="chinese_calendar",
        description="where statutory holidays and 调休 come from: the chinesecalendar library "
        "(the State Council's schedule), or none (only the lists below, every year)",
    )
    holidays: list[date] = Field(
        default_factory=list,
        description="holidays beside the official ones: no work even on a workday (override)",
    )
    extra_workdays: list[date] = Field(
        default_factory=list,
        description="working days beside the official ones (e.g. 调休 the library lacks); "
        "wins over a holiday on the same day (override)",
    )
    listed_years: list[int] = Field(
        default_factory=list,
        max_length=20,
        description="years whose holidays and make-up days the lists above give in full (a "
        "year the library does not know yet); another unknown year is counted provisionally "
        "(statutory holidays only, without 调休)",
    )

    @field_validator("listed_years")
    @classmethod
    def _years(cls, value: list[int]) -> list[int]:
        if any(year < 2000 or year > 2100 for year in value):
            raise ValueError("listed years are between 2000 and 2100")
        return sorted(set(value))

    @field_validator("workdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("periods")
    @classmethod
    def _periods_in_order(cls, value: list[str]) -> list[str]:
        previous_end: time | None = None
        for period in value:
            start, end = parse_period(period)
            if end <= start:
                raise ValueError(f"period {period!r} ends before it starts")
            if previous_end is not None and start < previous_end:
                raise ValueError(f"period {period!r} overlaps or is out of order")
            previous_end = end
        return value


def parse_period(period: str) -> tuple[time, time]:
    match = _PERIOD.fullmatch(period)
    if match is None:
        raise ValueError(f"period {period!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"period {period!r} has an impossible time")
    end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    return time(h1, m1), end


class TimeLimit(_Section):
    """How long a department has to dispose of a case, per (event code, condition)."""

    event_prefix: str = Field(
        pattern=r"^\d{0,4}$",
        description="CJ/T 214 code or prefix ('0505', '05' for the class, '' for all)",
    )
    condition: Literal["normal", "urgent"] = Field(
        default="normal", description="urgent = the candidate was marked urgent"
    )
    amount: float = Field(gt=0, le=1000, description="the limit, in `unit`")
    unit: Literal["work_hours", "work_days", "natural_hours"] = Field(
        default="work_hours",
        description="工作时 or 工作日 on the working calendar, or 自然时 (clock hours, nights, "
        "weekends and holidays included: urgent events)",
    )


class DispatchRule(_Section):
    """One row of the responsibility table: event code prefix × grid prefix → department."""

    event_prefix: str = Field(pattern=r"^\d{0,4}$", description="event code or prefix; '' = any")
    grid_prefix: str = Field(
        default="", pattern=r"^\d{0,14}$", description="grid code prefix (county 6, street 9 ...)"
    )
    department: str = Field(min_length=1, max_length=64, description="department id")


class Department(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="department id used in rules")
    name: str = Field(min_length=1, max_length=100, description="name shown to people")


class CameraGrid(_Section):
    """Where a camera (or one zone of it) looks: the unit grid its cases belong to."""

    camera_id: str = Field(min_length=1, max_length=64)
    zone_id: str | None = Field(default=None, max_length=64, description="None = whole camera")
    grid_code: str = Field(pattern=r"^\d{14}$", description="14-digit unit grid code")
    district: str | None = Field(default=None, max_length=100)


class DuplicateConfig(_Section):
    window_minutes: int = Field(
        default=240, ge=0, le=60 * 24 * 30, description="how recent an open case may be to match"
    )
    distance_m: float = Field(
        default=50.0, ge=0, le=10_000, description="match within this many metres (lat/lon known)"
    )
    same_grid: bool = Field(
        default=True, description="also match an open case in the same unit grid (no lat/lon)"
    )
    redetection_window_hours: int = Field(
        default=72,
        ge=1,
        le=24 * 365,
        description="a camera track (camera + track id) maps to its case for this long",
    )


class MetricWeights(_Section):
    """Weights of the composite score (they need not sum to 1; the score is normalised)."""

    closure_rate: float = Field(default=0.3, ge=0, le=100)
    on_time_closure_rate: float = Field(default=0.3, ge=0, le=100)
    on_time_disposal_rate: float = Field(default=0.3, ge=0, le=100)
    rework_rate: float = Field(default=0.1, ge=0, le=100, description="counts as (1 - rate)")


class CaseScoreWeights(_Section):
    """综合评价 of one closed case from its history (gateway/core/case_evaluation.py): the
    weighted mean of its parts, each 0-1, × 100; a part that does not apply is left out."""

    on_time: float = Field(default=0.4, ge=0, le=10, description="weight of 按期结案 (1 or 0)")
    rework: float = Field(default=0.25, ge=0, le=10, description="weight of the rework part")
    delays: float = Field(
        default=0.1, ge=0, le=10, description="weight of approved extensions/returns/suspensions"
    )
    satisfaction: float = Field(
        default=0.25, ge=0, le=10, description="weight of the citizen's survey answer, if any"
    )
    rework_penalty: float = Field(
        default=0.5, ge=0, le=1, description="taken off the rework part per 返工 (floor 0)"
    )
    delay_penalty: float = Field(
        default=0.25, ge=0, le=1, description="taken off the delays part per approved request"
    )
    basically_satisfied: float = Field(
        default=0.7, ge=0, le=1, description="value of 基本满意 (满意 1, 不满意 0)"
    )
    excellent_from: float = Field(default=90, ge=0, le=100, description="优 from this score")
    good_from: float = Field(default=75, ge=0, le=100, description="良 from this score")
    fair_from: float = Field(default=60, ge=0, le=100, description="中 from this score; 差 below")

    @model_validator(mode="after")
    def _grades_in_order(self) -> CaseScoreWeights:
        if not self.fair_from <= self.good_from <= self.excellent_from:
            raise ValueError("grade thresholds: fair_from <= good_from <= excellent_from")
        if self.on_time + self.rework + self.delays + self.satisfaction <= 0:
            raise ValueError("at least one weight must be above 0")
        return self


class EmergencyConfig(_Section):
    """Hand-off of urgent cases to the emergency command centre (gateway/core/handoff.py):
    an HMAC-signed HTTP webhook, retried with backoff until a 2xx acknowledges it."""

    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]{1,2000}$",
        description="the command centre's endpoint; unset: no hand-off",
    )
    secret: LiveViewSecret = Field(
        default=None,
        description="HMAC-SHA256 key shared with the command centre (at least 32 characters, "
        "e.g. ${CITYGW_EMERGENCY_SECRET:-}); required with webhook_url",
    )
    event_prefixes: list[str] = Field(
        default=["04"],
        max_length=50,
        description="event codes (prefixes) handed over once registered, besides any case "
        "marked urgent (04: 突发事件类)",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="one post's timeout")
    backoff_s: float = Field(default=5.0, gt=0, le=600, description="wait after a first failure")
    max_backoff_s: float = Field(
        default=300.0, gt=0, le=3600, description="longest wait between tries (doubling)"
    )
    scan_s: float = Field(default=2.0, ge=0.2, le=300, description="how often cases are looked at")

    @field_validator("event_prefixes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        if any(not re.fullmatch(r"\d{1,4}", p) for p in value):
            raise ValueError("event prefixes are 1 to 4 digits")
        return value

    @model_validator(mode="after")
    def _secret_with_url(self) -> EmergencyConfig:
        if self.webhook_url and self.secret is None:
            raise ValueError("emergency.webhook_url needs emergency.secret (the HMAC key)")
        return self


class CameraHealthConfig(_Section):
    """How the core judges the retained camera statuses the video gateways publish."""

    stale_after_s: float = Field(
        default=180.0,
        ge=10,
        le=86_400,
        description="a camera whose last status is older than this is shown as unknown "
        "(stale); keep it above the video gateways' status_interval_s (60 s by default)",
    )


class EventStreamConfig(_Section):
    """The console's live updates (Server-Sent Events at /api/v1/events/stream)."""

    heartbeat_s: float = Field(
        default=15.0, ge=1, le=300, description="a comment line this often keeps proxies open"
    )
    client_queue: int = Field(
        default=256,
        ge=8,
        le=10_000,
        description="events waiting for one client at most; a client that falls this far "
        "behind is disconnected (it reconnects and reloads), never waited for",
    )
    max_clients: int = Field(default=200, ge=1, le=10_000, description="open streams at most")
    ticket_ttl_s: float = Field(
        default=60.0, ge=5, le=600, description="lifetime of a one-time stream ticket"
    )
    history: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        description="recent events kept so a reconnecting client resumes from Last-Event-ID",
    )


class LiveViewGrantConfig(_Section):
    """Short-lived grants the console shows the video gateway's WebRTC signalling."""

    token_secret: LiveViewSecret = Field(
        default=None,
        description="shared with the video gateways' live_view.token_secret (at least 32 "
        "characters, e.g. ${CITYGW_LIVE_VIEW_SECRET:-}); unset: no grants are issued (503)",
    )
    token_ttl_s: int = Field(
        default=120,
        ge=10,
        le=3600,
        description="how long a grant may be used to start a live view",
    )
    signalling_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^(https?://[^\s/]+)?/[^\s]*/$",
        description="where the console signals (the video gateway's /live/ base, e.g. "
        "http://video-1.example:8091/live/ or /live/ behind the console's reverse proxy); "
        "unset: the console's own guess (port 8091 of its host)",
    )


class CameraCheckConfig(_Section):
    """Camera-assisted verification (核查 by camera): the core asks the video gateway to look
    again at a camera case; the answer informs the person who decides, never the workflow."""

    on_report: bool = Field(
        default=True,
        description="ask the camera automatically when a camera case reaches 处理反馈 (reported)",
    )
    timeout_s: float = Field(
        default=300.0,
        ge=10,
        le=7 * 86400,
        description="a request not answered this long after it was made is marked timed out "
        "(an answer arriving later is still shown)",
    )
    window_s: float | None = Field(
        default=None,
        gt=0,
        le=300,
        description="how long the gateway looks; unset: the video gateway's own default",
    )
    scan_s: float = Field(
        default=5.0,
        ge=0.1,
        le=3600,
        description="how often requests past their time are looked for",
    )


class IntakeConfig(_Section):
    """Guards of candidate intake: the kept dead letters and when intake counts as stalled."""

    dead_letters_keep: int = Field(
        default=10_000,
        ge=100,
        le=10_000_000,
        description="refused messages kept for admins (the newest; older ones are deleted)",
    )
    stall_after_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="/healthz answers 503 when messages have waited this long with no batch done",
    )
    share_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description=(
            "several cores on one PostgreSQL: the MQTT shared-subscription group they split "
            "the work topics in (candidates, feedback, camera-check results: each message to "
            "one core; camera and daemon status still reach every core). Each core needs its "
            "own `instance` and connects with a clean MQTT session, so the broker hands a "
            "stopped core's share to the others at once; what it held unconfirmed the "
            "producers resend after outbox.receipt_timeout_s. None: one core, persistent session"
        ),
    )


class LoginLimitConfig(_Section):
    """Guessing passwords: failed logins lock an account, or a client address, for a while."""

    account_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="failed logins to one account within window_minutes that lock it",
    )
    address_failures: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="failed logins from one client address within window_minutes that lock it",
    )
    window_minutes: float = Field(
        default=15, gt=0, le=24 * 60, description="how far back failures are counted"
    )
    lockout_minutes: float = Field(
        default=15,
        gt=0,
        le=24 * 60,
        description="how long a locked account or address is refused (429 with Retry-After)",
    )
    familiar_days: float = Field(
        default=30,
        ge=0,
        le=365,
        description=(
            "an address an account logged in from within this many days is familiar to it;"
            " failures at unfamiliar addresses lock the account there only, so a guesser"
            " elsewhere cannot keep its owner out (0: one lock for every address)"
        ),
    )


class CoreConfig(_Section):
    database_url: str = Field(
        default="sqlite:///core.sqlite3",
        description=(
            "SQLAlchemy URL: sqlite:///relative/to/state_dir.sqlite3, sqlite:////absolute/path "
            "(embedded default, WAL) or postgresql+psycopg://user@host/db"
        ),
    )
    db_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="connect / lock wait timeout of the database"
    )
    http_host: str = Field(default="127.0.0.1", description="address the API and console listen on")
    http_port: int = Field(default=8080, ge=1, le=65535, description="port of the API and console")
    http_tls: HttpTlsConfig | None = Field(
        default=None,
        description="serve HTTPS on http_port with this certificate (a phone's service worker "
        "and microphone need a secure context); unset: plain HTTP, e.g. behind a TLS proxy",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        max_length=100,
        description="addresses or networks (10.0.0.0/24) of the reverse proxies in front of the "
        "core: from them X-Forwarded-For and X-Forwarded-Proto name the client and the scheme, "
        "so login limits count each client's own address; from any other address the headers "
        "are ignored. []: trust none",
    )
    map_tile_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://[^\s/]+/\S*\{z\}\S*$",
        description="the city's own map tile server for the console's map, as a Leaflet URL "
        "template (e.g. https://tiles.city.example/{z}/{x}/{y}.png; Web Mercator tiles in "
        "WGS84/CGCS2000, not GCJ-02); the console's policy lets images come from its origin. "
        "Unset: the map's base layer is the imported grids, nothing from the internet",
    )
    http_threads: int = Field(
        default=16, ge=1, le=200, description="worker threads for blocking API handlers"
    )
    ingest_batch: int = Field(
        default=200, ge=1, le=5000, description="candidates committed per transaction at most"
    )
    evidence_dir: Path = Field(
        default=Path("evidence"),
        description="content-addressed evidence store (relative paths are under state_dir)",
    )
    case_number_prefix: str = Field(
        default="00",
        description="2 digits naming the core in the case numbers it gives, "
        "<prefix><yymmdd><serial of the day> (gateway/case_numbers.py); not used by any "
        "telephony gateway. Cases numbered before (C00000001) keep their numbers",
    )
    token_ttl_hours: float = Field(default=12, gt=0, le=24 * 30, description="API token lifetime")
    overdue_scan_s: float = Field(
        default=60, ge=1, le=3600, description="how often overdue cases are looked for"
    )
    default_department: str = Field(
        default="city-management",
        min_length=1,
        max_length=64,
        description="department when no responsibility rule matches",
    )
    departments: list[Department] = Field(
        default_factory=lambda: [Department(id="city-management", name="城管执法")],
        description="departments cases can be dispatched to",
    )
    dispatch: list[DispatchRule] = Field(
        default_factory=list,
        description="responsibility table; the most specific match (longest prefixes) wins",
    )
    time_limits: list[TimeLimit] = Field(
        default_factory=lambda: [
            TimeLimit(event_prefix="", condition="normal", amount=2, unit="work_days"),
            # urgent (紧急): on the clock, nights, weekends and holidays counted (自然时): a
            # fall reported on a Friday evening is due that evening, not on Monday
            TimeLimit(event_prefix="", condition="urgent", amount=2, unit="natural_hours"),
        ],
        description="disposal limits; the longest matching event prefix for the condition wins "
        "(default: normal 2 work_days, urgent 2 natural_hours)",
    )
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    camera_grids: list[CameraGrid] = Field(
        default_factory=list, description="camera/zone → unit grid for camera candidates"
    )
    grid_table: Path | None = Field(
        default=None,
        description=(
            "CSV of the city's unit grids (code,district,street,community); reports naming "
            "any other grid are refused. Unset: config/core/unit-grids.csv"
        ),
    )
    duplicates: DuplicateConfig = Field(default_factory=DuplicateConfig)
    metric_weights: MetricWeights = Field(default_factory=MetricWeights)
    emergency: EmergencyConfig = Field(
        default_factory=EmergencyConfig, description="urgent cases to the command centre"
    )
    case_score: CaseScoreWeights = Field(
        default_factory=CaseScoreWeights, description="综合评价 of one case from its history"
    )
    camera_health: CameraHealthConfig = Field(default_factory=CameraHealthConfig)
    events_stream: EventStreamConfig = Field(default_factory=EventStreamConfig)
    live_view: LiveViewGrantConfig = Field(default_factory=LiveViewGrantConfig)
    camera_check: CameraCheckConfig = Field(default_factory=CameraCheckConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    login_limits: LoginLimitConfig = Field(default_factory=LoginLimitConfig)
    agent_desk: AgentDeskConfig = Field(
        default_factory=AgentDeskConfig, description="hotline agents' screen pops"
    )
    recordings: RecordingsConfig = Field(
        default_factory=RecordingsConfig, description="agent calls' MixMonitor recordings"
    )
    organisation: OrganisationConfig = Field(
        default_factory=OrganisationConfig,
        description="the organisation tree: city, districts, streets, communities (两级指挥)",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} 不是 IP 地址或网段（例如 10.0.0.5、10.0.0.0/24、::1）"
                ) from None
        return value

    @field_validator("case_number_prefix")
    @classmethod
    def _two_digits(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}", value):
            raise ValueError(
                "case numbers are <2 digits><yymmdd><serial>: set 2 digits not used by a "
                "telephony gateway, e.g. '00' (cases numbered before keep their numbers)"
            )
        return value

    @model_validator(mode="after")
    def _tables_consistent(self) -> CoreConfig:
        known = {d.id for d in self.departments}
        if self.default_department not in known:
            raise ValueError(f"default_department {self.default_department!r} is not a department")
        for rule in self.dispatch:
            if rule.department not in known:
                raise ValueError(f"dispatch rule names unknown department {rule.department!r}")
        for name in sorted(known & set(self.organisation.department_ids())):
            raise ValueError(
                f"organisation：部门编号 {name!r} 已是市级部门（core.departments），"
                "区级部门和街道的编号不能与之重复"
            )
        if not any(
            limit.event_prefix == "" and limit.condition == "normal" for limit in self.time_limits
        ):
            raise ValueError("time_limits needs a catch-all row (event_prefix '', normal)")
        return self
