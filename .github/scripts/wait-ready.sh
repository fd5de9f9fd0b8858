#!/usr/bin/env bash
# Wait until every pod of the namespace is Ready (pods that ran to completion, like hook Jobs and
# Dagster runs, count as done). Usage: wait-ready.sh NAMESPACE TIMEOUT_SECONDS
set -euo pipefail
namespace="$1"
deadline=$(( $(date +%s) + $2 ))
while true; do
  not_ready="$(kubectl -n "$namespace" get pods -o json | jq -r '
    .items[] | select(.status.phase != "Succeeded")
    | select([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length == 0)
    | .metadata.name')"
  total="$(kubectl -n "$namespace" get pods --no-headers 2>/dev/null | wc -l)"
  if [[ "$total" -gt 0 && -z "$not_ready" ]]; then
    echo "all $total pods Ready (or completed)"
    exit 0
  fi
  if (( $(date +%s) > deadline )); then
    echo "not Ready after $2 s: $not_ready" >&2
    exit 1
  fi
  echo "waiting for: $(echo "$not_ready" | tr '\n' ' ')"
  sleep 15
done
