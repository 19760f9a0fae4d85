"""Loading the configured detector models, each checked against its card.

A model that cannot be loaded (card missing, weights missing or not what the card says,
the backend not installed) is left out with the reason: the gateway runs on with the
others and says, per camera, which rules stay silent. Only when none loads is analysis
refused. A model no camera's rules need is not loaded at all (the fall model alone is
~140 MB of memory): only the first model (for cameras without rules) and those the
cameras' rules take a label from; a reload that needs another asks for a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.video.analysis.model_plan import ServedModel, plan_models
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
    cards = {}
    for name in settings.models:
        try:
            cards[name] = load_card(settings.models_dir, name)
        except ModelCardError as exc:
            loaded.unavailable[name] = str(exc)
            log.error("model %s not loaded: %s", name, exc)
    # open what the cameras need; a model that fails to open passes its labels on to the
    # next model that serves them, which may then be needed in turn
    opened: dict[str, Detector] = {}
    while True:
        usable = [ServedModel(n, c.labels_served()) for n, c in cards.items()]
        wanted = [n for n in cards if n in _needed(settings, usable) and n not in opened]
        if not wanted:
            break
        for name in wanted:
            try:
                opened[name] = open_detector(
                    settings.backend,
                    cards[name],
                    settings.models_dir,
                    threads=settings.detector_threads,
                    min_score=min(0.25, settings.min_score),
                    nms_iou=settings.nms_iou,
                )
            except (ModelCardError, ValueError, ImportError) as exc:
                loaded.unavailable[name] = str(exc)
                log.error("model %s not loaded: %s", name, exc)
                del cards[name]
    for name, card in cards.items():  # in the configured order of preference
        if name in opened:
            loaded.detectors[name] = opened[name]
            loaded.served.append(ServedModel(name, card.labels_served()))
        else:
            log.info("model %s not loaded: no camera's rules need it", name)
    if not loaded.detectors:
        reasons = "; ".join(f"{k}: {v}" for k, v in loaded.unavailable.items())
        raise ValueError(f"no detector model could be loaded ({reasons})")
    return loaded


def _needed(settings: AnalysisConfig, served: list[ServedModel]) -> set[str]:
    """The first model (cameras without rules run it) and every model a camera's rules
    take a label from."""
    needed = {served[0].name} if served else set()
    for camera in settings.cameras.values():
        uses, _ = plan_models(served, camera)
        needed.update(use.name for use in uses)
    return needed
