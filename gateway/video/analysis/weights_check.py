"""Check a weights file by what it does, when its bytes are not the ones its card names.

``python -m gateway.video.analysis.weights_check CARD FILE VIDEO`` loads FILE as the card's
model (input and output shapes must match the card) and runs it on one frame of VIDEO
(vtest.avi): it must find people and the white van parked at the top right. Used by
``scripts/setup.d/31-yolox.sh`` when upstream's file differs from the export the card was
written for; exit 1 with the reason otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: where vtest.avi shows the parked white van (768x576 pixels), and the frame looked at
VAN_BOX = (651.0, 42.0, 725.0, 99.0)
CHECK_FRAME = 100


def check(card_name: str, weights: Path, video: Path, models_dir: Path = Path("models")) -> str:
    """What was found, or raise ``ValueError`` saying why the file is refused."""
    import av

    from adapters.detectors.onnx_detector import OnnxDetector
    from gateway.video.analysis.model_card import load_card
    from gateway.video.detection import Detection, iou

    card = load_card(models_dir, card_name)
    detector = OnnxDetector(weights, card, threads=2, min_score=0.3)
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == CHECK_FRAME:
                image = frame.to_ndarray(format="bgr24")
                break
        else:
            raise ValueError(f"{video} has fewer than {CHECK_FRAME + 1} frames")
    (found,) = detector.detect([image])
    people = [d for d in found if d.label == "person"]
    van = Detection(*VAN_BOX, score=1.0, class_id=-1, label="vehicle")
    vans = [d for d in found if iou(d, van) > 0.5]
    if len(people) < 3 or not vans:
        raise ValueError(
            f"{weights} does not behave like {card_name}: {len(people)} people and "
            f"{len(vans)} box(es) on the parked van of {video.name} frame {CHECK_FRAME}"
        )
    return f"{len(people)} people, the van as {vans[0].kind} ({vans[0].score:.2f})"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m gateway.video.analysis.weights_check CARD FILE VIDEO")
        return 2
    try:
        print(f"  {argv[1]}: accepted: {check(argv[0], Path(argv[1]), Path(argv[2]))}")
    except ValueError as exc:
        print(f"  refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
