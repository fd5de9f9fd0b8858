"""Settings, protobuf contracts and the CLI surface."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
from pydantic import ValidationError

from tradestream import protogen
from tradestream.settings import ConfigFileError, FlinkSettings, IngestionSettings, KafkaSettings, Settings
from tradestream.v1 import market_pb2, strategy_pb2
from tradestream_cli.up import REPO, dagster_home


def test_generated_protobuf_modules_match_the_proto_files():
    assert protogen.drift() == []


def test_protobuf_messages_carry_the_contract_fields():
    assert {f.name for f in market_pb2.Trade.DESCRIPTOR.fields} >= {
        "exchange", "currency_pair", "trade_id", "price", "size", "taker_side", "event_time", "ingest_time"}
    assert {f.name for f in market_pb2.Candle.DESCRIPTOR.fields} >= {
        "currency_pair", "timeframe", "window_start", "window_end", "open", "high", "low", "close", "volume",
        "vwap", "trade_count", "filled", "revision"}
    assert {f.name for f in strategy_pb2.Signal.DESCRIPTOR.fields} >= {
        "type", "currency_pair", "timeframe", "candle_time", "price", "strategy", "reason", "emitted_at"}
    assert set(strategy_pb2.SignalType.keys()) >= {"SIGNAL_TYPE_BUY", "SIGNAL_TYPE_SELL", "SIGNAL_TYPE_STOP_LOSS"}
    assert {f.name for f in strategy_pb2.BacktestResult.DESCRIPTOR.fields} >= {
        "cumulative_return", "annualized_return", "sharpe_ratio", "sortino_ratio", "max_drawdown", "volatility",
        "win_rate", "profit_factor", "number_of_trades", "average_trade_duration_bars", "alpha", "beta",
        "strategy_score"}


def test_environment_overrides_config_file_which_overrides_defaults(tmp_path, monkeypatch):
    cfg = tmp_path / "ts.toml"
    cfg.write_text('[kafka]\nport = 29999\ntopic_partitions = 7\n[flink]\nparallelism = 2\n')
    monkeypatch.setenv("TRADESTREAM_CONFIG", str(cfg))
    monkeypatch.setenv("TRADESTREAM_KAFKA_PORT", "31000")
    s = Settings.load()
    assert s.kafka.port == 31000            # env wins
    assert s.kafka.topic_partitions == 7    # file beats default
    assert s.flink.parallelism == 2
    assert s.kafka.bootstrap == "127.0.0.1:31000"


def test_missing_config_file_named_by_env_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TRADESTREAM_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigFileError, match="nope.toml does not name a file"):
        Settings.load()


def test_bad_values_are_rejected_with_the_value_named(monkeypatch):
    monkeypatch.setenv("TRADESTREAM_INGEST_PRODUCTS", "BTC-USD,btcusd")
    with pytest.raises(ValidationError, match="'btcusd' must look like 'BTC-USD'"):
        IngestionSettings()
    with pytest.raises(ValidationError, match="'nohost' must be '\\[local\\]' or HOST:PORT"):
        FlinkSettings(master="nohost")
    monkeypatch.delenv("TRADESTREAM_INGEST_PRODUCTS")
    with pytest.raises(ValidationError, match="exceeds"):
        Settings(kafka=KafkaSettings(topic_replication=1, topic_min_insync_replicas=2))


def test_cli_help_lists_every_verb_group():
    out = subprocess.run([sys.executable, "-m", "tradestream_cli.main", "--help"], capture_output=True, text=True,
                         timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0
    for verb in ("kafka", "topics", "flink", "pipeline", "setup", "up"):
        assert verb in out.stdout


def test_cli_table_of_contents_matches_the_verbs_the_modules_define():
    import importlib

    import typer

    from tradestream_cli.main import VERBS, load_verb

    defined: dict[str, set[str]] = {}
    for module_name in {m for m, _, _ in VERBS.values()}:
        command = typer.main.get_command(importlib.import_module(module_name).app)
        defined[module_name] = set(getattr(command, "commands", {command.name: command}))
    for verb, (module_name, is_group, _) in VERBS.items():
        command = load_verb(verb)
        if is_group:
            assert getattr(command, "commands", None), f"{verb} should be a verb group"
        else:
            assert verb in defined[module_name], f"{module_name} defines no verb {verb!r}"
    top_level = {v for v, (_, is_group, _) in VERBS.items() if not is_group}
    for module_name, names in defined.items():
        if not any(VERBS[v][1] for v in VERBS if VERBS[v][0] == module_name):
            assert names <= top_level, f"{module_name} defines verbs missing from VERBS: {names - top_level}"


def test_up_makes_dagsters_home_and_storage_before_webserver_and_daemon_start(tmp_path, monkeypatch):
    """Started together on an empty store, both would create the SQLite tables and one would die
    ("table alembic_version already exists"); `tradestream up` makes them first."""
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    assert dagster_home() == home.resolve()
    assert (home / "dagster.yaml").read_bytes() == (REPO / "dagster.yaml").read_bytes()
    for db in ("history/runs.db", "history/runs/index.db", "schedules/schedules.db"):
        with closing(sqlite3.connect(home / db)) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,), db
