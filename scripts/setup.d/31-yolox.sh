#!/usr/bin/env bash
# The COCO detector of the street-order rules: YOLOX-Nano (Megvii, Apache-2.0), one ONNX
# file, installed into models/weights/yolox-nano/ (git-ignored). Never at run time. From:
#   1. CITYGW_MODEL_SOURCE: a folder holding yolox_nano.onnx, or the file itself (the tests
#      and .ci/run point it at ../shared/models; an offline site at its own copy);
#   2. else the YOLOX release on GitHub, when this machine is online.
# The file must match the sha256 of models/cards/yolox-nano.yaml. Should upstream's bytes
# differ from that export, the file is accepted only if its input and output shapes match
# the card and it finds the parked van and people of vtest.avi (said so, with its sha256).
# Offline with no source: says what is missing and where to put it; the rest of citygw
# runs without the street-order rules (the demo prints NOT STARTED for them).
set -euo pipefail
cd "$(dirname "$0")/../.."
CARD=models/cards/yolox-nano.yaml
DEST=models/weights/yolox-nano
FILE=yolox_nano.onnx
UPSTREAM=https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx
WANT=$(sed -n 's/^ *onnx_sha256: *\([0-9a-f]\{64\}\).*/\1/p' "$CARD")
sha() { sha256sum "$1" | cut -d' ' -f1; }
mkdir -p "$DEST"

if [[ -s "$DEST/$FILE" && "$(sha "$DEST/$FILE")" == "$WANT" ]]; then
  echo "  yolox-nano weights present"
  exit 0
fi
if [[ -s "$DEST/$FILE" && -f "$DEST/$FILE.checked" && "$(cat "$DEST/$FILE.checked")" == "$(sha "$DEST/$FILE")" ]]; then
  echo "  yolox-nano weights present (upstream bytes, checked on vtest.avi at install)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source_given=${CITYGW_MODEL_SOURCE:-}
if [[ -n "$source_given" ]]; then
  candidate=$source_given
  [[ -d "$candidate" ]] && candidate="$candidate/$FILE"
  if [[ ! -s "$candidate" ]]; then
    echo "  CITYGW_MODEL_SOURCE=$source_given: no $FILE there" >&2
    exit 1
  fi
  if [[ "$(sha "$candidate")" != "$WANT" ]]; then
    echo "  $candidate: sha256 $(sha "$candidate") is not the card's $WANT" >&2
    exit 1
  fi
  cp "$candidate" "$DEST/$FILE.part" && mv "$DEST/$FILE.part" "$DEST/$FILE"
  echo "  yolox-nano weights from $candidate"
  exit 0
fi

echo "  fetching yolox_nano.onnx from the YOLOX release (CITYGW_MODEL_SOURCE not set)"
if ! curl -fsSL --connect-timeout 15 --max-time 300 -o "$tmp/$FILE" "$UPSTREAM"; then
  cat >&2 <<MSG
  NOT INSTALLED: the YOLOX-Nano weights (street-order rules: illegal parking, vending, crowds).
    This machine could not fetch $UPSTREAM.
    Put yolox_nano.onnx (sha256 $WANT) in a folder and run
      CITYGW_MODEL_SOURCE=/that/folder bash scripts/setup.sh
    Everything else works without it; the demo says NOT STARTED for the street-order rules.
MSG
  exit 0
fi
got=$(sha "$tmp/$FILE")
if [[ "$got" != "$WANT" ]]; then
  echo "  upstream's yolox_nano.onnx has sha256 $got, not the card's $WANT: checking it instead"
  .venv/bin/python -m gateway.video.analysis.weights_check yolox-nano "$tmp/$FILE" var/data/vtest.avi
  echo "$got" >"$tmp/$FILE.checked"
  mv "$tmp/$FILE.checked" "$DEST/$FILE.checked"
fi
mv "$tmp/$FILE" "$DEST/$FILE"
echo "  yolox-nano weights: $(du -h "$DEST/$FILE" | cut -f1) in $DEST"
