"""The core's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Times are stored as UTC and always come back timezone-aware (`UtcDateTime`), on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored as naive UTC, read back aware (UTC)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def sqlite_time_text(value: datetime | None) -> str | None:
    """An aware time as SQLAlchemy's SQLite DateTime stores it (naive UTC, microseconds)."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # less the "+00:00"


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("number", sa.String(32), nullable=False, unique=True),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    # looked up by event code through ix_cases_near_grid and ix_cases_near_position
    sa.Column("event_code", sa.String(4), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("source_kind", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False, default=""),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("grid_code", sa.String(14), index=True),
    sa.Column("district", sa.String(100)),
    sa.Column("address", sa.String(500)),
    sa.Column("camera_id", sa.String(64)),
    sa.Column("zone_id", sa.String(64)),
    sa.Column("lat", sa.Float()),
    sa.Column("lon", sa.Float()),
    sa.Column("urgent", sa.Boolean(), nullable=False, default=False),
    sa.Column("track_key", sa.String(200)),
    sa.Column("reporter_name", sa.String(100)),
    sa.Column("callback_number", sa.String(32)),
    sa.Column("department", sa.String(64)),
    sa.Column("dispatched_at", UtcDateTime()),
    sa.Column("deadline", UtcDateTime()),
    sa.Column("suspended_at", UtcDateTime()),
    sa.Column("suspended_minutes", sa.Float(), nullable=False, default=0.0),
    sa.Column("rework_count", sa.Integer(), nullable=False, default=0),
    sa.Column("pending", sa.JSON()),
    sa.Column("proposed_merge_into", sa.String(64)),
    sa.Column("merged_into", sa.String(64)),
    sa.Column("closed_at", UtcDateTime()),
    sa.Column("satisfaction", sa.String(32)),
    sa.Column("facts", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False, default=0),
    sa.Column("overdue_notified", sa.Boolean(), nullable=False, default=False),
    # the centre handling the case after 上报/下派 (NULL: its grid's district, else the city)
    sa.Column("centre", sa.String(64)),
    # 四级联动: the community its street office passed the case to (NULL: none), 0017
    sa.Column("community", sa.String(64)),
    sa.Index("ix_cases_near_grid", "event_code", "grid_code", "created_at"),
    # the map's viewport: migration 0020's cases_rtree (SQLite) or ix_cases_point (PostGIS
    # GiST on the point), outside this metadata (SPATIAL_EXTRAS)
    # partial: only cases that have the value (a new case has no department or deadline
    # yet); every lookup compares the column with a value, which implies not null
    *(
        sa.Index(
            name,
            *columns,
            sqlite_where=sa.text(f"{present} IS NOT NULL"),
            postgresql_where=sa.text(f"{present} IS NOT NULL"),
        )
        for name, columns, present in (
            ("ix_cases_department", ("department",), "department"),
            ("ix_cases_community", ("community",), "community"),  # a community's list
            ("ix_cases_deadline", ("deadline",), "deadline"),
            ("ix_cases_track_key", ("track_key",), "track_key"),
            ("ix_cases_near_position", ("event_code", "lat", "lon"), "lat"),
            # a caller's earlier cases, newest first (the agent's screen pop)
            ("ix_cases_callback_number", ("callback_number", "created_at"), "callback_number"),
        )
    ),
)

candidates = sa.Table(
    "candidates",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("source_kind", sa.String(16), nullable=False),
    sa.Column("source_id", sa.String(64), nullable=False),
    sa.Column("event_code", sa.String(4), nullable=False),
    sa.Column("produced_at", UtcDateTime(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    # new_case | redetection | proposed_merge | call_record (a call record has case_id "")
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("body", sa.JSON(), nullable=False),  # the message without evidence bytes
    # a hotline call's Asterisk uniqueid (facts.uniqueid of a call's candidate; NULL for
    # any other), so a call recorded from its CDR meets the IVR's own record of it (0019)
    sa.Column("call_uniqueid", sa.String(64)),
    sa.Index(
        "ix_candidates_call_uniqueid",
        "call_uniqueid",
        sqlite_where=sa.text("call_uniqueid IS NOT NULL"),
        postgresql_where=sa.text("call_uniqueid IS NOT NULL"),
    ),
)

steps = sa.Table(
    "case_steps",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_state", sa.String(32)),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("department", sa.String(64)),
    sa.Column("opinion", sa.Text(), nullable=False, default=""),
    sa.Column("attachments", sa.JSON(), nullable=False),
    sa.Column("facts", sa.JSON(), nullable=False),
)

evidence = sa.Table(
    "evidence",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("stored", sa.Boolean(), nullable=False),  # bytes are in the store
    sa.Column("first_seen", UtcDateTime(), nullable=False),
)

case_evidence = sa.Table(
    "case_evidence",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("added_at", UtcDateTime(), nullable=False),
)

#: transactional outbox: case events written with the change, relayed to MQTT after commit
event_outbox = sa.Table(
    "event_outbox",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(300), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("department", sa.String(64)),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False, default=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # an inspector's unit grids (codes or code prefixes): the cases they see
    sa.Column("grids", sa.JSON(), nullable=False, server_default="[]"),
    # the organisation node the user belongs to (NULL: the city centre), migration 0013
    sa.Column("org_node", sa.String(64)),
)

tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

#: camera-assisted verification (核查 by camera): one row per request to a video gateway
camera_checks = sa.Table(
    "camera_checks",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),  # the request's message id
    sa.Column("case_id", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),  # 1, 2, ... per case
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),  # report | manual
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("requested_by", sa.String(100), nullable=False),
    sa.Column("reply_by", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | answered | timed_out
    sa.Column("verdict", sa.String(32)),
    sa.Column("result_id", sa.String(128)),
    sa.Column("answered_at", UtcDateTime()),
    sa.Column("timed_out_at", UtcDateTime()),
    sa.Column("detail", sa.String(500), nullable=False, default=""),
    sa.Column("before_sha256", sa.String(64)),
    sa.Column("after_sha256", sa.String(64)),
    sa.Column("facts", sa.JSON(), nullable=False),
    sa.UniqueConstraint("case_id", "seq"),
    # the watch looks for pending requests past their time
    sa.Index(
        "ix_camera_checks_pending",
        "reply_by",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

#: messages a consumer refused for good (`gateway.dead_letters`); the newest N are kept
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("topic", sa.String(1024), nullable=False),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("head", sa.LargeBinary(), nullable=False),  # the first bytes of the payload
    sa.Column("message_id", sa.String(128)),
)

# ---------------------------------------------------------------- base data (issue 17)
# Geometry is stored as WKB (CGCS2000 lon/lat) with its bounding box on both databases.
# Migrations 0009 and 0010 add what each dialect indexes it with, outside this metadata (see
# SPATIAL_EXTRAS): SQLite an R*Tree table per layer refilled by the store; PostgreSQL a PostGIS
# ``geom`` column generated from the WKB (or lon/lat) with a GiST index.


def _bbox_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
    ]


#: unit grids (单元网格), 14-digit code
gis_grids = sa.Table(
    "gis_grids",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(14), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("district", sa.String(100), nullable=False),
    sa.Column("street", sa.String(100), nullable=False),
    sa.Column("community", sa.String(100), nullable=False),
    sa.Column("area_m2", sa.Float(), nullable=False),
    sa.Column("wkb", sa.LargeBinary(), nullable=False),
    *_bbox_columns(),
)

#: management areas: streets (9-digit code) and communities (12 digits), given or derived
gis_areas = sa.Table(
    "gis_areas",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(12), nullable=False, unique=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("district", sa.String(100), nullable=False),
    sa.Column("derived", sa.Boolean(), nullable=False),
    sa.Column("wkb", sa.LargeBinary(), nullable=False),
    *_bbox_columns(),
)

#: census components (部件), 16-digit id, points
gis_components = sa.Table(
    "gis_components",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("component_id", sa.String(16), nullable=False, unique=True),
    sa.Column("type_code", sa.String(4), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("grid_code", sa.String(14), index=True),  # None: outside every grid
)

#: per-dialect objects migrations 0009 and 0010 create beside the tables: the schema check
#: (tests/core/test_migrations.py) leaves them out of its comparison
SPATIAL_EXTRAS: dict[str, frozenset[str]] = {
    "table_prefixes": frozenset(
        {
            "gis_grids_rtree",
            "gis_areas_rtree",
            "gis_components_rtree",
            "gis_addresses_rtree",
            "cases_rtree",  # migration 0020, the map's case viewport
        }
    ),
    "tables": frozenset({"spatial_ref_sys"}),  # PostGIS's own
    "columns": frozenset({"geom"}),
    "indexes": frozenset(
        {
            "ix_gis_grids_geom",
            "ix_gis_areas_geom",
            "ix_gis_components_geom",
            "ix_gis_addresses_geom",
            "ix_cases_point",  # migration 0020: GiST on ST_MakePoint(lon, lat)
        }
    ),
}

#: door-plate addresses (门牌地址), the geocoder's gazetteer (`gateway.gis.addresses.Address`)
gis_addresses = sa.Table(
    "gis_addresses",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("district", sa.String(100), nullable=False),
    sa.Column("road", sa.String(100), nullable=False, index=True),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("building", sa.String(32), nullable=False),
    sa.Column("unit", sa.String(32), nullable=False),
    sa.Column("text", sa.String(300), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("grid_code", sa.String(14), index=True),
)

#: urgent cases handed to the emergency command centre (gateway/core/handoff.py): the
#: durable queue of the webhook, one row per case, kept with its acknowledgement
handoffs = sa.Table(
    "emergency_handoffs",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(100), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("queued_at", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime()),
    sa.Column("acked_at", UtcDateTime()),
    sa.Column("ack_ref", sa.String(200)),
    sa.Column("last_error", sa.Text()),
)

#: inspectors' patrol tracks (巡查, gateway/core/patrols.py): one row per position the phone
#: sent, keyed by the phone's own id for it (a batch sent again stores nothing twice)
patrol_points = sa.Table(
    "patrol_points",
    metadata,
    sa.Column("inspector", sa.String(64), primary_key=True),
    sa.Column("point_id", sa.String(128), primary_key=True),
    sa.Column("patrol_id", sa.String(128), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("accuracy_m", sa.Float()),
    sa.Column("grid_code", sa.String(14)),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Index("ix_patrol_points_inspector_at", "inspector", "at"),
    sa.Index("ix_patrol_points_at", "at"),
)

#: the reduced patrol figures of a settled day (gateway/core/inspector_routes.py), with the
#: number of points they were made from (made again when it moves; migration 0016)
patrol_day_figures = sa.Table(
    "patrol_day_figures",
    metadata,
    sa.Column("day_start", UtcDateTime(), primary_key=True),
    sa.Column("day_end", UtcDateTime(), primary_key=True),
    sa.Column("points", sa.Integer(), nullable=False),
    sa.Column("figures", sa.Text(), nullable=False),
    sa.Column("made_at", UtcDateTime(), nullable=False),
)

#: failed logins and the locks they started (gateway/core/login_limits.py), by scope
#: (account, address) and key, at wall-clock epoch seconds: shared by the cores on one
#: database, kept across restarts, forgotten after the window (migration 0018)
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("at", sa.Float(), nullable=False),
    sa.Index("ix_login_failures_key_at", "scope", "key", "at"),
    sa.Index("ix_login_failures_at", "at"),
)

login_locks = sa.Table(
    "login_locks",
    metadata,
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("locked_until", sa.Float(), nullable=False),
)
