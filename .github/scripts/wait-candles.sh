#!/usr/bin/env bash
# Wait until the candles topic holds records, asking from Dagster's code server (it has the
# warehouse's Kafka user and the CA). Usage: wait-candles.sh NAMESPACE TIMEOUT_SECONDS
set -euo pipefail
namespace="$1"
deadline=$(( $(date +%s) + $2 ))
probe='
import sys
from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, newest_record
from tradestream.settings import Settings
kafka = Settings.load().kafka
try:
    position = newest_record(KafkaClientConfig.from_settings(kafka), kafka.candles_topic, timeout_s=10)
except KafkaRangeError as exc:
    print(f"candles: {exc}"); sys.exit(1)
print(f"candles: {position.records} records, newest at {position.newest_timestamp}")
sys.exit(0 if position.records else 1)
'
while true; do
  pod="$(kubectl -n "$namespace" get pods -l component=user-deployments,deployment=tradestream -o name | head -n 1)"
  if [[ -n "$pod" ]] && kubectl -n "$namespace" exec "$pod" -- python -c "$probe"; then
    exit 0
  fi
  if (( $(date +%s) > deadline )); then
    echo "no candles after $2 s" >&2
    exit 1
  fi
  sleep 30
done
