"""The ACL table: each component may do what its code does and nothing else (checked against a table
written by hand from the jobs' code and docs/execution.md, not derived from the same function)."""

from __future__ import annotations

import pytest

from streaming.kafka.access import COMPONENTS, SIGNALS_GROUP_PREFIX, component_access, user_name
from streaming.kafka.ranges import throwaway_group_prefix
from tradestream.settings import KafkaSettings, PipelineSettings, Settings

# component -> (topics it reads, topics it writes), by hand
EXPECTED = {
    "ingestion": (set(), {"trades", "trades.dlq"}),
    "candles": ({"trades"}, {"candles", "trades.dlq"}),
    "signals": ({"candles"}, {"signals", "trades.dlq"}),
    "warehouse": ({"trades", "candles", "signals", "trades.dlq", "orders", "fills", "positions", "risk.events",
                   "execution.state"}, {"risk.commands"}),
    "executor": ({"signals", "trades", "risk.commands", "execution.state", "execution.snapshots"},
                 {"orders", "fills", "positions", "risk.events", "execution.state", "execution.snapshots"}),
    "kafka-ui": (set(), set()),
}
ALL_TOPICS = set().union(*(r | w for r, w in EXPECTED.values()))


@pytest.fixture
def principals(settings: Settings):
    return component_access(settings)


def test_every_component_has_its_own_user(principals):
    assert tuple(principals) == COMPONENTS
    assert {p.user for p in principals.values()} == {user_name(c) for c in COMPONENTS}
    assert len({p.user for p in principals.values()}) == len(COMPONENTS)


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_reads_and_writes_exactly_its_topics(principals, component):
    reads, writes = EXPECTED[component]
    principal = principals[component]
    for topic in sorted(ALL_TOPICS):
        assert principal.allows("topic", topic, "READ") == (topic in reads or component == "kafka-ui"), topic
        assert principal.allows("topic", topic, "WRITE") == (topic in writes), topic
        assert not principal.allows("topic", topic, "CREATE") and not principal.allows("topic", topic, "DELETE")
        assert not principal.allows("topic", topic, "ALTER_CONFIGS")


def test_acls_follow_the_topic_names_of_the_settings():
    settings = Settings(kafka=KafkaSettings(trades_topic="t2", candles_topic="c2"),
                        pipeline=PipelineSettings(consumer_group="my-candles"))
    candles = component_access(settings)["candles"]
    assert candles.topics("READ") == ["t2"] and "c2" in candles.topics("WRITE")
    assert candles.allows("group", "my-candles", "READ") and not candles.allows("group", "tradestream-candles", "READ")


def test_only_the_executor_holds_transactional_ids(principals, settings):
    # the id the execution stream's producer uses (streaming/execution/stream.py: "<group>.executor")
    transactional_id = f"{settings.execution.consumer_group}.executor"
    holders = [c for c, p in principals.items() if p.allows("transactional_id", transactional_id, "WRITE")]
    assert holders == ["executor"]


def test_the_jobs_consumer_groups_are_covered():
    from streaming.signals.job import DEFAULT_CONSUMER_GROUP

    principals = component_access(Settings())
    signals = principals["signals"]
    assert signals.allows("group", DEFAULT_CONSUMER_GROUP, "READ")
    # the history seeding reads through throw-away groups of its own purpose
    assert throwaway_group_prefix("signals-seed").startswith(SIGNALS_GROUP_PREFIX)
    # the warehouse probes the lag of both jobs' groups but cannot commit into them
    warehouse = principals["warehouse"]
    for group in (Settings().pipeline.consumer_group, DEFAULT_CONSUMER_GROUP):
        assert warehouse.allows("group", group, "DESCRIBE") and not warehouse.allows("group", group, "READ")


def test_kafka_ui_only_reads(principals):
    ui = principals["kafka-ui"]
    writes = {"WRITE", "CREATE", "DELETE", "ALTER", "ALTER_CONFIGS"}
    assert not any(set(g.operations) & writes for g in ui.grants)
