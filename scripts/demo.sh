#!/usr/bin/env bash
# Set up (idempotent) and run the demo on embedded defaults: a local Mosquitto, the core
# consumer printing each candidate it stores, and a few sample candidates sent through
# the durable outbox. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m gateway.demo "$@"
