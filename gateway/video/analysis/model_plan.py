"""Which model a camera runs for which labels. Pure: no models are loaded here.

A gateway may load several models (``video.analysis.models``, in order of preference):
the COCO detector for people, vehicles and stall objects, the fall model for
``fallen_person``. Each camera runs only the models its rules need, and each label comes
from the first model that serves it, so a person is never counted twice by two models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.video.analysis.settings import CameraAnalysisConfig


@dataclass(frozen=True, slots=True)
class ModelUse:
    """One model a camera runs, and the labels it takes from it (None: all it gives)."""

    name: str
    labels: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded model and the labels it can give (None: unknown, e.g. a test fake)."""

    name: str
    labels: frozenset[str] | None

    def serves(self, label: str) -> bool:
        return self.labels is None or label in self.labels


def labels_needed(camera: CameraAnalysisConfig) -> frozenset[str]:
    """Every label some rule of the camera looks at (its objects and their companions)."""
    return frozenset(
        label for rule in camera.rules for label in (*rule.classes, *getattr(rule, "with_any", ()))
    )


def plan_models(
    served: Sequence[ServedModel], camera: CameraAnalysisConfig
) -> tuple[tuple[ModelUse, ...], frozenset[str]]:
    """The models a camera runs, in the gateway's order, and the labels no model serves."""
    if not served:
        return (), labels_needed(camera)
    needed = labels_needed(camera)
    if not needed:
        return (ModelUse(served[0].name, None),), frozenset()
    taken: dict[str, set[str]] = {}
    unserved: set[str] = set()
    for label in needed:
        model = next((m for m in served if m.serves(label)), None)
        if model is None:
            unserved.add(label)
        else:
            taken.setdefault(model.name, set()).add(label)
    uses = tuple(ModelUse(m.name, frozenset(taken[m.name])) for m in served if m.name in taken)
    return uses, frozenset(unserved)


def model_of(models: tuple[ModelUse, ...], label: str | None) -> str:
    """The name of the model a camera takes ``label`` from ("" when it runs none)."""
    for use in models:
        if use.labels is None or label in use.labels:
            return use.name
    return models[0].name if models else ""
