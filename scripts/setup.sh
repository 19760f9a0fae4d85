#!/usr/bin/env bash
# Set up citygw on a Debian 12 machine (as root): apt packages, a Python 3.11 venv in
# .venv with citygw and its test tools, and the data files the tests and demo use.
# Idempotent: it installs only what is missing and says what it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# ---------------------------------------------------------------- apt
mapfile -t WANTED < <(sed -e 's/#.*//' -e '/^\s*$/d' scripts/apt-packages.txt)
MISSING=()
for pkg in "${WANTED[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$pkg")
done
if ((${#MISSING[@]})); then
  say "apt: installing ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
else
  say "apt: all ${#WANTED[@]} packages present"
fi
# the distribution's mosquitto/postgresql services are not used: citygw starts its own
for svc in mosquitto postgresql; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    say "note: system $svc service is running; citygw's tests use their own instance on a free port"
  fi
done

# ---------------------------------------------------------------- python venv
PY=${CITYGW_PYTHON:-}
if [[ -z "$PY" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$(command -v "$candidate"); break
    fi
  done
fi
if [[ -z "$PY" ]]; then
  say "Python 3.11 not found; installing Debian's python3 (3.11 on Debian 12)"
  apt-get install -y -qq python3 python3-venv python3-dev >/dev/null
  PY=/usr/bin/python3
fi
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  say "venv: creating .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv
fi
STAMP=.venv/.citygw-installed
HASH=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ ! -f $STAMP || "$(cat $STAMP)" != "$HASH" ]]; then
  say "pip: installing citygw and its dependencies (extras: dev) into .venv"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import gateway, paho.mqtt, pydantic' || { say "pip install failed"; exit 1; }
  echo "$HASH" >$STAMP
else
  say "pip: .venv up to date"
fi

# ---------------------------------------------------------------- data and models
for step in scripts/setup.d/*.sh; do
  [[ -e "$step" ]] || continue
  say "step: $step"
  bash "$step"
done
say "done"
