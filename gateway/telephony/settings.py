"""Configuration of the telephony gateway (`citygw agi`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TelephonyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen_host: str = Field(default="127.0.0.1", description="FastAGI listen address")
    listen_port: int = Field(default=4573, ge=1, le=65535, description="FastAGI listen port")
