#!/usr/bin/env bash
# Set up (idempotent) and run the demo: a local Mosquitto, the core with the operator
# console (demo users printed), the video gateway on the test camera with real YOLO
# weights, the AGI server with one scripted call, sample candidates. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m gateway.demo "$@"
