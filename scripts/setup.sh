#!/usr/bin/env bash
# Idempotent set-up, shared by `make`, CI and the Docker image:
#   1. a virtual environment with the package (and, with --dev, the test tools) installed;
#   2. the JVM jars listed in jvm/pom.xml, resolved from Maven Central into .jars/.
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
extras=""; [ "$DEV" = 1 ] && extras="[dev]"
want="$(stamp pyproject.toml)$extras"
have_file=.venv/.financelake-installed; [ "$VENV" = 1 ] || have_file=/tmp/.financelake-installed
if [ "$(cat "$have_file" 2>/dev/null)" != "$want" ] && ! { [ "$DEV" = 0 ] && grep -q "^${want}\[dev\]$" "$have_file" 2>/dev/null; }; then
  echo "setup: installing the Python package$extras"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet -e ".$extras"
  echo "$want" > "$have_file"
else
  echo "setup: Python package up to date"
fi

# 2. JVM jars -----------------------------------------------------------------------------
want="$(stamp jvm/pom.xml scripts/prune_jars.py)"
if [ "$(cat .jars/.stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: resolving JVM jars from Maven Central (jvm/pom.xml)"
  rm -rf .jars
  for profile in spark kafka; do
    mvn --quiet --batch-mode -f jvm/pom.xml -P"$profile" dependency:copy-dependencies
  done
  "$PY" scripts/prune_jars.py .jars/spark
  echo "$want" > .jars/.stamp
else
  echo "setup: JVM jars up to date"
fi
