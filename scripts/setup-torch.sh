#!/usr/bin/env bash
# The optional `ultralytics` extra in a venv of its own (.venv-torch), for the tests that
# compare the two detector backends on the same frames. The default install (.venv, the
# demo, the daemons) stays light: onnxruntime only. pip takes torch 2.14.1 and
# torchvision 0.29.1 from this machine's disk (about 5.5 GB installed).
# Idempotent: reinstalls only when pyproject.toml changed. Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup-torch]\033[0m %s\n' "$*"; }
PY=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
if [[ ! -x .venv-torch/bin/python ]]; then
  say "venv: creating .venv-torch with $PY"
  "$PY" -m venv .venv-torch
fi
STAMP=.venv-torch/.citygw-installed
HASH=$(cat pyproject.toml scripts/setup-torch.sh | sha256sum | cut -d' ' -f1)
if [[ ! -f $STAMP || "$(cat $STAMP)" != "$HASH" ]]; then
  say "pip: installing citygw with extras dev,ultralytics (torch, torchvision, ultralytics, onnx) into .venv-torch"
  .venv-torch/bin/python -m pip install -q -e ".[dev,ultralytics]" 2>&1 | grep -v '^WARNING: Location' || true
  .venv-torch/bin/python -c 'import torch, torchvision, ultralytics, gateway' || { say "pip install failed"; exit 1; }
  echo "$HASH" >$STAMP
else
  say "pip: .venv-torch up to date"
fi
