"""Model cards: what a detector model finds, its input size, its weights and its class map.

A card is a YAML file ``<models_dir>/cards/<name>.yaml``; weight paths in it are relative
to ``models_dir``. The class map (``labels``) turns a model's class names into the
labels rules speak about (``person``, ``fallen_person``, ``car`` ...), so a rule reads the
same whichever model serves it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CARDS_DIR = "cards"

#: COCO classes the street-order rules care about, mapped to citygw labels: motor vehicles
#: share one label (a van is found as truck and as car), a stall is seen by its objects.
COCO_LABELS: dict[str, str] = {
    "person": "person",
    "bicycle": "bicycle",
    "car": "vehicle",
    "truck": "vehicle",
    "bus": "vehicle",
    "motorcycle": "motorcycle",
    "umbrella": "umbrella",
    "chair": "chair",
    "dining table": "table",
    "bench": "bench",
    "suitcase": "suitcase",
}


class ModelCardError(ValueError):
    """A card that is missing, unreadable or inconsistent; the message says which and why."""


class InputSize(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    height: Annotated[int, Field(ge=32, le=4096, multiple_of=32)]
    width: Annotated[int, Field(ge=32, le=4096, multiple_of=32)]


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    onnx: Path | None = None
    onnx_sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None
    pt: Path | None = None
    pt_sha256: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
    description: str = ""
    source: str = Field(description="where the weights came from")
    license: str = ""
    architecture: str = ""
    task: str = "detect"
    head: Literal["yolov8", "yolox"] = Field(
        default="yolov8",
        description="output layout: yolov8 (batch, 4 + classes, anchors, letterbox centred, "
        "RGB 0..1) or yolox (batch, anchors, 5 + classes on stride 8/16/32 grids, letterbox "
        "top-left, BGR 0..255)",
    )
    input: InputSize
    weights: Weights
    classes: dict[int, str] = Field(min_length=1)
    labels: dict[str, str] = Field(
        default_factory=dict, description="model class name -> citygw label"
    )

    @model_validator(mode="after")
    def _labels_name_classes(self) -> ModelCard:
        unknown = set(self.labels) - set(self.classes.values())
        if unknown:
            raise ValueError(f"labels map unknown classes {sorted(unknown)}")
        if self.weights.onnx is None and self.weights.pt is None:
            raise ValueError("weights name neither an onnx nor a pt file")
        return self

    def label_of(self, class_id: int) -> str:
        """The citygw label of a model class (the class name itself when unmapped)."""
        name = self.classes.get(class_id, str(class_id))
        return self.labels.get(name, name)

    def label_table(self) -> dict[int, str]:
        return {class_id: self.label_of(class_id) for class_id in self.classes}

    def labels_served(self) -> frozenset[str]:
        """Every label this model can produce (after the class map)."""
        return frozenset(self.label_table().values())

    def expected_output(self, batch: int | str = "batch") -> tuple[int | str, int, int]:
        """The output shape the card promises for its input size."""
        count = len(self.classes)
        height, width = self.input.height, self.input.width
        anchors = sum((height // s) * (width // s) for s in (8, 16, 32))
        if self.head == "yolox":
            return (batch, anchors, 5 + count)
        return (batch, 4 + count, anchors)

    def check_output(self, shape: tuple[object, ...], input_size: tuple[int, int]) -> None:
        """Raise `ModelCardError` when a model's output ``shape`` (dynamic axes as str or
        None) is not what this card promises for ``input_size`` (height, width)."""
        height, width = input_size
        resized = self.model_copy(update={"input": InputSize(height=height, width=width)})
        expected = resized.expected_output()
        fixed = [(i, e) for i, e in enumerate(expected) if isinstance(e, int)]
        wrong = len(shape) != 3 or any(
            isinstance(shape[i], int) and shape[i] != e for i, e in fixed
        )
        if wrong:
            raise ModelCardError(
                f"model {self.name}: output shape {list(shape)} does not match the card "
                f"({self.head} head, {len(self.classes)} classes, input {height}x{width} "
                f"expects {list(expected)})"
            )


def card_path(models_dir: Path, name: str) -> Path:
    return models_dir / CARDS_DIR / f"{name}.yaml"


def load_card(models_dir: Path, name: str) -> ModelCard:
    path = card_path(models_dir, name)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelCardError(f"model card {path} not found (citygw models list)") from exc
    except yaml.YAMLError as exc:
        raise ModelCardError(f"model card {path} is not valid YAML: {exc}") from exc
    try:
        return ModelCard.model_validate(document)
    except ValidationError as exc:
        issues = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(card)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ModelCardError(f"model card {path}: {issues}") from exc


def list_cards(models_dir: Path) -> list[tuple[Path, ModelCard | ModelCardError]]:
    """Every card under ``models_dir`` with the card or the error that made it unreadable."""
    found: list[tuple[Path, ModelCard | ModelCardError]] = []
    for path in sorted((models_dir / CARDS_DIR).glob("*.yaml")):
        try:
            found.append((path, load_card(models_dir, path.stem)))
        except ModelCardError as exc:
            found.append((path, exc))
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(models_dir: Path, card: ModelCard, kind: str, *, verify: bool = False) -> Path:
    """The path of the card's ``onnx`` or ``pt`` weights; raise if absent or (``verify``) altered."""
    relative = card.weights.onnx if kind == "onnx" else card.weights.pt
    if relative is None:
        raise ModelCardError(f"model {card.name} has no {kind} weights")
    path = relative if relative.is_absolute() else models_dir / relative
    if not path.is_file():
        raise ModelCardError(
            f"model {card.name}: {kind} weights {path} missing (run scripts/setup.sh)"
        )
    expected = card.weights.onnx_sha256 if kind == "onnx" else card.weights.pt_sha256
    if verify and expected is not None and sha256_file(path) != expected:
        raise ModelCardError(f"model {card.name}: {path} does not match the card's sha256")
    return path


def write_card(models_dir: Path, card: ModelCard) -> Path:
    path = card_path(models_dir, card.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = card.model_dump(mode="json", exclude_none=True)
    header = "# Model card written by `citygw models import`.\n"
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path
