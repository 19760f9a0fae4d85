"""Loading the configured detector models, each checked against its card.

A model that cannot be loaded (card missing, weights missing or not what the card says,
the backend not installed) is left out with the reason: the gateway runs on with the
others and says, per camera, which rules stay silent. Only when none loads is analysis
refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.video.analysis.model_plan import ServedModel
from gateway.video.analysis.ports import Detector
from gateway.video.analysis.settings import AnalysisConfig

log = logging.getLogger("citygw.video.analysis")


@dataclass
class LoadedModels:
    detectors: dict[str, Detector] = field(default_factory=dict)  # in order of preference
    served: list[ServedModel] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # model -> why not loaded


def load_models(settings: AnalysisConfig) -> LoadedModels:
    """Every model of ``settings.models``; raises ``ValueError`` when none loads."""
    from adapters.detectors import open_detector
    from gateway.video.analysis.model_card import ModelCardError, load_card

    loaded = LoadedModels()
    for name in settings.models:
        try:
            card = load_card(settings.models_dir, name)
            detector = open_detector(
                settings.backend,
                card,
                settings.models_dir,
                threads=settings.detector_threads,
                min_score=min(0.25, settings.min_score),
                nms_iou=settings.nms_iou,
            )
        except (ModelCardError, ValueError, ImportError) as exc:
            loaded.unavailable[name] = str(exc)
            log.error("model %s not loaded: %s", name, exc)
            continue
        loaded.detectors[name] = detector
        loaded.served.append(ServedModel(name, card.labels_served()))
    if not loaded.detectors:
        reasons = "; ".join(f"{k}: {v}" for k, v in loaded.unavailable.items())
        raise ValueError(f"no detector model could be loaded ({reasons})")
    return loaded
