#!/usr/bin/env bash
# Set up (idempotent) and run the demo: a local Mosquitto, the core with the operator
# console (demo users of the city and of the 海州区 and 连云区 district centres printed) on
# the GIS demo area of 海州区 and 连云区 (imported at start: its map has grids, cameras and
# cases; yesterday's cases of both districts give the evaluations figures), the video
# gateway on the test camera with real YOLO weights, the AGI server with two scripted
# calls (one in each district), sample candidates in each district. Ctrl-C stops all.
# CITYGW_HTTPS_SAN=<names the phones reach this machine by> (or --https NAMES): the console
# over HTTPS with a certificate from setup's CA, for a phone (README, 手机上的 HTTPS).
set -euo pipefail
cd "$(dirname "$0")/.."
# model files (YOLOX-Nano) from the shared folder beside the clone when there is one;
# otherwise setup fetches them from upstream (CITYGW_MODEL_SOURCE overrides both)
if [[ -z "${CITYGW_MODEL_SOURCE:-}" && -s ../shared/models/yolox_nano.onnx ]]; then
  export CITYGW_MODEL_SOURCE=../shared/models
fi
bash scripts/setup.sh
exec .venv/bin/python -m gateway.demo "$@"
