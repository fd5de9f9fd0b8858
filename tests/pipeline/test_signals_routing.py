"""Shard keys of the signal engine: where Flink puts them, and a plan that balances the workers."""

from __future__ import annotations

import pytest

from streaming.signals.routing import SHARD_WEIGHTS, ShardRouter, flink_subtask, shard_buckets

# Keys and the worker process that seeded them, from the log of a real run of the job
# (benchmarks/signal_latency.py, parallelism 2, embedded Flink 1.19, Beam 2.62).
SAME_WORKER_A = ["ADA-USD|1m|b2048", "ADA-USD|1m|b256", "ADA-USD|1m|b512", "AVAX-USD|1m|b128",
                 "AVAX-USD|1m|b2048", "AVAX-USD|1m|b64", "BTC-USD|1m|b1024", "BTC-USD|1m|b8192"]
SAME_WORKER_B = ["ADA-USD|1m|b1024", "ADA-USD|1m|b128", "ADA-USD|1m|b64", "ADA-USD|1m|b8192",
                 "AVAX-USD|1m|b1024", "AVAX-USD|1m|b256", "BTC-USD|1m|b512", "BTC-USD|1m|b64"]
PAIRS = ("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD", "ADA-USD", "AVAX-USD", "LINK-USD", "DOT-USD",
         "LTC-USD")


def test_flink_subtask_reproduces_where_a_real_flink_job_put_the_keys() -> None:
    a = {flink_subtask(k, 2) for k in SAME_WORKER_A}
    b = {flink_subtask(k, 2) for k in SAME_WORKER_B}
    assert a == {0} and b == {1}


def test_flink_subtask_is_a_contiguous_split_of_the_key_groups() -> None:
    keys = [f"K{i}" for i in range(500)]
    for parallelism in (1, 2, 3, 4):
        subtasks = {flink_subtask(k, parallelism) for k in keys}
        assert subtasks == set(range(parallelism))
    assert all(flink_subtask(k, 1) == 0 for k in keys)


def _loads(router: ShardRouter, pairs, timeframe="1m") -> list[float]:
    loads = [0.0] * router.parallelism
    for pair in pairs:
        for bucket, key in router.shards(pair, timeframe):
            loads[flink_subtask(key, router.parallelism)] += SHARD_WEIGHTS.get(bucket, 1.0)
    return loads


@pytest.mark.parametrize("parallelism", [2, 3])
def test_the_router_balances_the_default_pairs_over_the_workers(parallelism: int) -> None:
    loads = _loads(ShardRouter(parallelism, 168), PAIRS)
    assert max(loads) / (sum(loads) / parallelism) < 1.1, loads
    plain = [0.0] * parallelism  # what Flink's hashing of the plain keys gives
    for pair in PAIRS:
        for bucket in shard_buckets("1m", 168):
            plain[flink_subtask(f"{pair}|1m|b{bucket}", parallelism)] += SHARD_WEIGHTS.get(bucket, 1.0)
    assert max(loads) < max(plain)


def test_every_shard_of_a_stream_gets_one_stable_key_naming_its_bucket() -> None:
    router = ShardRouter(2, 168)
    shards = router.shards("BTC-USD", "1m")
    assert [b for b, _ in shards] == list(shard_buckets("1m", 168))
    assert all(key == f"BTC-USD|1m|b{b}" or key.startswith(f"BTC-USD|1m|b{b}@") for b, key in shards)
    assert len({key for _, key in shards}) == len(shards)
    assert ShardRouter(2, 168).shards("BTC-USD", "1m") == shards  # another worker, the same keys


def test_a_single_worker_keeps_the_plain_keys() -> None:
    assert ShardRouter(1, 168).shards("ETH-USD", "5m") == tuple(
        (b, f"ETH-USD|5m|b{b}") for b in shard_buckets("5m", 168))


def test_the_router_refuses_a_parallelism_below_one() -> None:
    with pytest.raises(ValueError, match="parallelism 0"):
        ShardRouter(0, 168)
