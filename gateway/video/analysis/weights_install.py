"""Install an ONNX file as the weights of an existing model card, after checking it.

For a site that is offline: ``citygw models import yolox_nano.onnx --card yolox-nano``
copies the file to the card's weights path only when its input and output shapes are
what the card promises and its bytes are the ones the card names (sha256).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.video.analysis.model_card import ModelCardError, load_card, sha256_file


def onnx_shapes(path: Path) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The first input's and the first output's shape of an ONNX file (dynamic axes as str)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ValueError(f"{path} is not a model onnxruntime can load: {exc}") from exc
    return tuple(session.get_inputs()[0].shape), tuple(session.get_outputs()[0].shape)


def install_onnx(file: Path, models_dir: Path, card_name: str) -> Path:
    """Check ``file`` against card ``card_name`` and copy it to the card's ONNX path."""
    card = load_card(models_dir, card_name)
    if card.weights.onnx is None:
        raise ModelCardError(f"model {card.name} names no onnx weights")
    model_input, output = onnx_shapes(file)
    size = (card.input.height, card.input.width)
    if len(model_input) != 4 or any(
        isinstance(got, int) and got != want
        for got, want in zip(model_input[1:], (3, *size), strict=True)
    ):
        raise ModelCardError(
            f"model {card.name}: input shape {list(model_input)} is not the card's "
            f"[batch, 3, {size[0]}, {size[1]}]"
        )
    card.check_output(output, size)
    digest = sha256_file(file)
    if card.weights.onnx_sha256 is not None and digest != card.weights.onnx_sha256:
        raise ModelCardError(
            f"model {card.name}: {file} has sha256 {digest}, the card names "
            f"{card.weights.onnx_sha256}"
        )
    target = (
        card.weights.onnx if card.weights.onnx.is_absolute() else models_dir / card.weights.onnx
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    shutil.copyfile(file, partial)
    partial.replace(target)
    return target
