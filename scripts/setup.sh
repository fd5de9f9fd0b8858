#!/usr/bin/env bash
# Idempotent setup: Python 3.12 venv with the locked dependencies, generated protobuf
# modules, JVM artifacts (Kafka, Beam's Flink job server, Flink) and test tools.
# Fast when nothing changed: each step checks a stamp or a cache first.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
UV_VERSION=0.13.9
say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# 1. virtual environment ---------------------------------------------------------------
if [[ ! -x $VENV/bin/python ]] || ! $VENV/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
  PY=$(scripts/find_python.sh) || exit 1
  say "creating $VENV with $PY"
  rm -rf $VENV
  "$PY" -m venv $VENV
fi
if [[ ! -x $VENV/bin/uv ]] || [[ "$($VENV/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
  say "installing uv $UV_VERSION"
  $VENV/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

# 2. locked dependencies + the project (editable) ----------------------------------------
STAMP=$VENV/.tradestream-deps
WANT=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [[ "$(cat $STAMP 2>/dev/null)" != "$WANT" ]]; then
  say "installing locked dependencies (requirements.lock)"
  $VENV/bin/uv pip sync --python $VENV/bin/python -q requirements.lock
  $VENV/bin/uv pip install --python $VENV/bin/python -q --no-deps -e .
  echo "$WANT" > $STAMP
else
  say "dependencies up to date"
fi

# 3. protobuf modules (reproducible from protos/) ------------------------------------------
$VENV/bin/python -m tradestream.protogen --if-changed

# 4. JVM artifacts into the cache (Kafka, Beam Flink job server, Flink distribution) -----------
java -version >/dev/null 2>&1 || die "java is not installed (need Java 17+): apt-get install openjdk-17-jre-headless"
command -v mvn >/dev/null 2>&1 || die "mvn is not installed: apt-get install maven"
$VENV/bin/tradestream setup

# 5. test tools: helm (built from the Go module proxy) and Chromium for UI tests ---------------
if [[ "${TRADESTREAM_SETUP_TEST_TOOLS:-1}" == "1" ]]; then
  [[ -x scripts/install_helm.sh ]] && scripts/install_helm.sh
  if ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian's chromium for browser tests"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || die "apt-get install chromium failed; browser tests need it"
    else
      say "warning: chromium is not installed; browser tests need it (apt-get install chromium)"
    fi
  fi
fi
say "ready"
