"""Configuration of video analysis (motion, detector, tracking, zones and rules)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AnalysisConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
