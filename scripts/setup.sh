#!/usr/bin/env bash
# Idempotent set-up, shared by `make`, CI and the Docker image:
#   1. a virtual environment with the package (and, with --dev, the test tools and every extra)
#      installed, at the tested versions of constraints.txt;
#   2. the JVM jars listed in src/financelake/jvm/pom.xml, resolved from Maven Central by
#      `financelake setup` into FINANCELAKE_JARS_DIR, by default this checkout's .jars/ (where
#      the Makefile, the tests and the Docker image look).
# Each step is skipped when the stamp of its inputs is unchanged, so a second run does no
# network work. Usage: scripts/setup.sh [--dev] [--no-venv]
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
VENV=1
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --no-venv) VENV=0 ;;  # install into the current interpreter (the Docker image does this)
    *) echo "unknown option $arg" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
if [ "$VENV" = 1 ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  PY=.venv/bin/python
else
  PY=$PYTHON
fi

stamp() { cat "$@" | sha256sum | cut -c1-16; }

# 1. Python package ---------------------------------------------------------------------
# The demo needs the dashboard; --dev adds the test tools and every extra.
extras="[dashboard]"; [ "$DEV" = 1 ] && extras="[dev]"
inputs="$(stamp pyproject.toml constraints.txt)"
want="$inputs$extras"
have_file=.venv/.financelake-installed; [ "$VENV" = 1 ] || have_file=/tmp/.financelake-installed
have="$(cat "$have_file" 2>/dev/null || true)"
if [ "$have" != "$want" ] && ! { [ "$DEV" = 0 ] && [ "$have" = "$inputs[dev]" ]; }; then
  echo "setup: installing the Python package$extras"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet --constraint constraints.txt -e ".$extras"
  echo "$want" > "$have_file"
else
  echo "setup: Python package up to date"
fi

# 2. JVM jars (stamped by `financelake setup` itself) ------------------------------------
FINANCELAKE_JARS_DIR="${FINANCELAKE_JARS_DIR:-$PWD/.jars}" "$PY" -m financelake setup
