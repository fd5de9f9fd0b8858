#!/usr/bin/env bash
# `make test-unit`: the tests that need no service (`pytest -m "not services"`), run where no
# service can be reached, so the marker's promise is checked every time it is used:
#   - java, mvn, helm, go and chromium are shims that fail (no broker, Flink, Beam job server,
#     helm build or browser can start), JAVA_HOME is unset, and the TradeStream cache is an
#     empty folder (no Kafka/Flink jars, no cached helm);
#   - where the kernel lets us (`unshare -n`, root or user namespaces), the tests run in a
#     network namespace of their own: a private loopback and no route anywhere, so a Kafka,
#     Flink or Dagster started by someone else on this machine is out of reach too.
# A test that needs a service but is not marked `services` fails here (see tests/services.py).
#
# Usage: scripts/test_without_services.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

sandbox=$(mktemp -d "${TMPDIR:-/tmp}/tradestream-no-services.XXXXXX")
trap 'rm -rf "$sandbox"' EXIT
mkdir -p "$sandbox/bin" "$sandbox/cache"
for tool in java mvn helm go chromium; do
  printf '#!/bin/sh\necho "%s is hidden from tests not marked services (tests/services.py)" >&2\nexit 127\n' \
    "$tool" > "$sandbox/bin/$tool"
  chmod +x "$sandbox/bin/$tool"
done

export PATH="$sandbox/bin:$PATH"
unset JAVA_HOME
export TRADESTREAM_CACHE_DIR="$sandbox/cache"
pytest=(.venv/bin/pytest -m "not services" "$@")

if command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$@"' bash "${pytest[@]}"
elif command -v ip >/dev/null && unshare -rn true 2>/dev/null; then
  exec unshare -rn bash -c 'ip link set lo up && exec "$@"' bash "${pytest[@]}"
fi
echo "[test-unit] no network namespace here (unshare -n refused): services hidden by the tool shims only" >&2
exec "${pytest[@]}"
