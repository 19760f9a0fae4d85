"""``citygw models``: list model cards; import a ``.pt`` as ONNX with a card (ultralytics extra)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import click

from gateway.cli_texts import MESSAGES

DEFAULT_MODELS_DIR = Path("models")


def parse_imgsz(text: str) -> tuple[int, int]:
    """``640`` -> (640, 640); ``480,640`` -> (480, 640) (height, width; multiples of 32)."""
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise click.BadParameter(MESSAGES["imgsz_form"].format(text=text)) from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or any(v < 32 or v > 4096 or v % 32 for v in values):
        raise click.BadParameter(MESSAGES["imgsz_range"].format(text=text))
    return values[0], values[1]


def register(cli: click.Group) -> None:
    @cli.group("models")
    def models() -> None:
        """Detector models: cards (classes, input size, class map) and their weights."""

    @models.command("list")
    @click.option(
        "--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="directory of cards/ and weights/ (default: video.analysis.models_dir)",
    )  # fmt: skip
    @click.pass_context
    def list_models(ctx: click.Context, models_dir: Path | None) -> None:
        """Print each model card with its input size, classes and whether its weights are there."""
        from gateway.video.analysis.model_card import ModelCardError, list_cards, weights_file

        directory = models_dir or _configured_models_dir(ctx)
        cards = list_cards(directory)
        if not cards:
            click.echo(MESSAGES["no_cards"].format(path=directory / "cards"))
            return
        broken = 0
        for path, card in cards:
            if isinstance(card, ModelCardError):
                broken += 1
                click.echo(MESSAGES["card_invalid"].format(name=path.stem, reason=card), err=True)
                continue
            present = []
            for kind in ("onnx", "pt"):
                try:
                    weights_file(directory, card, kind)
                    present.append(kind)
                except ModelCardError:
                    pass
            labels = ", ".join(f"{k}={card.label_of(k)}" for k in sorted(card.classes)[:12])
            more = len(card.classes) - 12
            click.echo(
                MESSAGES["card_line"].format(
                    name=card.name,
                    architecture=card.architecture or "?",
                    height=card.input.height,
                    width=card.input.width,
                    count=len(card.classes),
                    labels=labels,
                    more=MESSAGES["card_more"].format(count=more) if more > 0 else "",
                    weights=", ".join(present) or MESSAGES["weights_missing"],
                )
            )
        if broken:
            sys.exit(1)

    @models.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--imgsz", default="640", show_default=True, help="input size N or H,W")
    @click.option("--name", default=None, help="card name (default: the file's stem)")
    @click.option(
        "--label", "label_pairs", multiple=True, metavar="CLASS=LABEL",
        help="class map entry, e.g. --label Fall=fallen_person (COCO names map by default)",
    )  # fmt: skip
    @click.option(
        "--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="directory of cards/ and weights/ (default: video.analysis.models_dir)",
    )  # fmt: skip
    @click.option(
        "--card", "card_name", default=None,
        help="install FILE (.onnx) as the weights of this existing card, after checking it",
    )  # fmt: skip
    @click.pass_context
    def import_model(
        ctx: click.Context,
        file: Path,
        imgsz: str,
        name: str | None,
        label_pairs: tuple[str, ...],
        models_dir: Path | None,
        card_name: str | None,
    ) -> None:
        """Export FILE (an ultralytics .pt, or a .yaml architecture for speed tests) to ONNX
        with ultralytics and write its model card (needs the optional `ultralytics` extra),
        or, with --card, install an .onnx FILE as that card's weights. A file whose input or
        outputs do not match its card is refused with the reason. Nothing is downloaded."""
        directory = models_dir or _configured_models_dir(ctx)
        if card_name is not None:
            from gateway.video.analysis.model_card import ModelCardError
            from gateway.video.analysis.weights_install import install_onnx

            try:
                installed = install_onnx(file, directory, card_name)
            except (ModelCardError, ValueError) as exc:
                click.echo(MESSAGES["import_failed"].format(file=file, reason=exc), err=True)
                sys.exit(1)
            click.echo(
                MESSAGES["import_installed"].format(card=card_name, file=file, installed=installed)
            )
            return
        size = parse_imgsz(imgsz)
        card_name = name or file.stem
        labels: dict[str, str] = {}
        for pair in label_pairs:
            model_class, sep, label = pair.partition("=")
            if not sep or not model_class or not label:
                raise click.BadParameter(
                    MESSAGES["label_form"].format(pair=pair), param_hint="--label"
                )
            labels[model_class] = label
        try:
            card = import_weights(file, size, card_name, directory, labels=labels)
        except ImportError as exc:
            click.echo(MESSAGES["import_needs_extra"].format(reason=exc), err=True)
            sys.exit(2)
        except Exception as exc:
            click.echo(MESSAGES["import_failed"].format(file=file, reason=exc), err=True)
            sys.exit(1)
        click.echo(
            MESSAGES["imported"].format(
                name=card.name,
                height=card.input.height,
                width=card.input.width,
                count=len(card.classes),
                onnx=card.weights.onnx,
                sha256=card.weights.onnx_sha256,
            )
        )


def check_exported_outputs(path: Path, names: dict[int, str], size: tuple[int, int]) -> None:
    """Refuse an export whose output is not a YOLOv8 head for ``names`` at ``size``."""
    from gateway.video.analysis.model_card import InputSize, ModelCard, Weights
    from gateway.video.analysis.weights_install import onnx_shapes

    promised = ModelCard(
        name="export",
        source=str(path),
        input=InputSize(height=size[0], width=size[1]),
        weights=Weights(onnx=path),
        classes=names,
    )
    _, output = onnx_shapes(path)
    promised.check_output(output, size)


def _configured_models_dir(ctx: click.Context) -> Path:
    obj = ctx.find_object(object)
    config_path = getattr(obj, "config_path", None)
    if config_path is None:
        return DEFAULT_MODELS_DIR
    return Path(obj.config.video.analysis.models_dir)  # type: ignore[attr-defined]


def import_weights(  # type: ignore[no-untyped-def]
    file: Path,
    size: tuple[int, int],
    name: str,
    models_dir: Path,
    *,
    labels: dict[str, str] | None = None,
):
    """Export ``file`` with ultralytics into ``models_dir/weights/<name>/`` and write a card."""
    import os

    # never let ultralytics fetch anything (fonts, requirements, assets) at run time
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics import YOLO  # the optional extra

    from gateway.video.analysis.model_card import (
        COCO_LABELS,
        InputSize,
        ModelCard,
        Weights,
        sha256_file,
        write_card,
    )

    target = models_dir / "weights" / name
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # export writes next to its source: work on a copy, never beside the original
        source = Path(scratch) / file.name
        shutil.copy2(file, source)
        model = YOLO(str(source))
        names = {int(k): str(v) for k, v in model.names.items()}
        exported = Path(
            model.export(format="onnx", imgsz=list(size), simplify=False, dynamic=False, opset=13)
        )
        onnx_path = target / f"{name}.onnx"
        check_exported_outputs(exported, names, size)
        shutil.move(str(exported), onnx_path)
        pt_path: Path | None = None
        if file.suffix == ".pt":
            pt_path = target / f"{name}.pt"
            if file.resolve() != pt_path.resolve():
                shutil.copy2(file, pt_path)
    is_coco = names.get(0) == "person" and names.get(2) == "car"
    card = ModelCard(
        name=name,
        description=f"imported from {file.name} by citygw models import",
        source=str(file),
        architecture=file.stem,
        input=InputSize(height=size[0], width=size[1]),
        weights=Weights(
            onnx=onnx_path.relative_to(models_dir),
            onnx_sha256=sha256_file(onnx_path),
            pt=pt_path.relative_to(models_dir) if pt_path else None,
            pt_sha256=sha256_file(pt_path) if pt_path else None,
        ),
        classes=names,
        labels={
            **{v: COCO_LABELS[v] for v in names.values() if is_coco and v in COCO_LABELS},
            **(labels or {}),
        },
    )
    write_card(models_dir, card)
    return card
