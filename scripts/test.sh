#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: ruff, mypy, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k outbox).
set -euo pipefail
cd "$(dirname "$0")/.."
# model files (YOLOX-Nano) from the shared folder beside the clone when there is one;
# otherwise setup fetches them from upstream (CITYGW_MODEL_SOURCE overrides both)
if [[ -z "${CITYGW_MODEL_SOURCE:-}" && -s ../shared/models/yolox_nano.onnx ]]; then
  export CITYGW_MODEL_SOURCE=../shared/models
fi
bash scripts/setup.sh
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }
echo "[test] mypy (gateway, adapters; bench)"
.venv/bin/mypy gateway adapters
.venv/bin/mypy --explicit-package-bases bench
echo "[test] pytest"
mkdir -p test-output
.venv/bin/python -m pytest -ra -p no:cacheprovider --junitxml=test-output/junit.xml "$@"
# the whole suite (no arguments) also runs the tests of the optional ultralytics extra,
# in a venv of their own: the two detector backends must find the same boxes
if [[ $# -eq 0 && "${CITYGW_TORCH_TESTS:-1}" != 0 ]]; then
  echo "[test] pytest with the optional ultralytics extra (.venv-torch; CITYGW_TORCH_TESTS=0 skips)"
  bash scripts/setup-torch.sh
  .venv-torch/bin/python -m pytest -ra -p no:cacheprovider --junitxml=test-output/junit-torch.xml \
    tests/detection/test_detectors.py tests/detection/test_models.py
fi
