"""Configuration of the video gateway (`citygw video`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.video.analysis.settings import AnalysisConfig


class VideoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    analysis_fps: float = Field(
        default=5.0, gt=0, le=30, description="frames per second decoded for analysis"
    )
    analysis: AnalysisConfig = Field(
        default_factory=AnalysisConfig, description="motion, detector, zones, rules"
    )
