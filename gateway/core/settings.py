"""Configuration of the core workflow service (`citygw core`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field(
        default="sqlite:///var/core.sqlite3",
        description="SQLAlchemy URL: sqlite:///path (embedded default) or postgresql+psycopg://...",
    )
    http_host: str = Field(default="127.0.0.1", description="address the API and console listen on")
    http_port: int = Field(default=8080, ge=1, le=65535, description="port of the API and console")
    ingest_batch: int = Field(
        default=200, ge=1, le=5000, description="candidates committed per transaction at most"
    )
