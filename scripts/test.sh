#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: ruff, mypy, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -k outbox).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }
echo "[test] mypy (gateway, adapters)"
.venv/bin/mypy gateway adapters
echo "[test] pytest"
mkdir -p test-output
exec .venv/bin/python -m pytest -ra -p no:cacheprovider --junitxml=test-output/junit.xml "$@"
