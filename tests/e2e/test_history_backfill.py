"""A history backfill launched the way the Dagster UI launches it: GraphQL ``launchPartitionBackfill`` against the
running platform (webserver + daemon), two day x pair partitions of ``market_history`` from the REST stand-in,
then the ``history_complete`` verdict of each partition read back through the same API."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.e2e.conftest import HISTORY_DAYS, HISTORY_GAP
from tradestream import store

pytestmark = pytest.mark.e2e

BACKFILL_TIMEOUT_S = 600
PARTITIONS = [f"{day:%Y-%m-%d}|BTC-USD" for day in HISTORY_DAYS]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""

STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numPartitions runs(limit: 20) { runId status tags { key value } } }
    ... on PythonError { message }
  }
}"""

CHECKS = """
query Checks {
  assetCheckExecutions(assetKey: {path: ["market_history"]}, checkName: "history_complete", limit: 20) {
    partition status evaluation { success severity description }
  }
}"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query, "variables": variables or {}})
                                     .encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the platform on loopback
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_a_launchpad_backfill_imports_each_partition_and_the_check_judges_it(platform, coinbase_rest):
    launched = graphql(platform.url, LAUNCH, {"params": {
        "partitionNames": PARTITIONS, "assetSelection": [{"path": ["market_history"]}], "fromFailure": False,
        "title": "history e2e"}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        backfill = graphql(platform.url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            break
        assert time.monotonic() < deadline, f"backfill still {backfill['status']} after {BACKFILL_TIMEOUT_S} s"
        time.sleep(3)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert backfill["numPartitions"] == 2
    runs = {next(t["value"] for t in r["tags"] if t["key"] == "dagster/partition"): r["status"]
            for r in backfill["runs"]}
    assert runs == dict.fromkeys(PARTITIONS, "SUCCESS"), "one run per partition, each shown with its status"

    verdicts = {e["partition"]: e["evaluation"] for e in graphql(platform.url, CHECKS)["assetCheckExecutions"]
                if e["partition"] in PARTITIONS}
    assert verdicts[PARTITIONS[0]]["success"]
    assert not verdicts[PARTITIONS[1]]["success"] and verdicts[PARTITIONS[1]]["severity"] == "WARN"
    assert "each missing at the venue" in verdicts[PARTITIONS[1]]["description"]

    with store.reader(platform.duckdb) as con:
        held = con.execute("SELECT count(*), count(DISTINCT trade_id), min(trade_id::BIGINT), max(trade_id::BIGINT) "
                           "FROM trades WHERE exchange = 'coinbase' AND source = 'history'").fetchone()
        gaps = con.execute("SELECT first_id, last_id FROM history_gaps").fetchall()
        candles = con.execute("SELECT count(*) FROM candles WHERE source = 'history' AND timeframe = '1d'"
                              ).fetchone()[0]
    assert held[0] == held[1] and held[3] - held[2] + 1 - held[0] == 1, "every trade once, one id lost at the venue"
    assert gaps == [(HISTORY_GAP, HISTORY_GAP)] and candles == 2
