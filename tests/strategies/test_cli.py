"""`tradestream strategies list [--json]` and `tradestream strategies show NAME`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tradestream_cli.main import app

runner = CliRunner()


def test_list_json_gives_every_strategy_with_typed_parameter_ranges():
    result = runner.invoke(app, ["strategies", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data) == 60 and [d["name"] for d in data] == sorted(d["name"] for d in data)
    macd = next(d for d in data if d["name"] == "MACD_CROSSOVER")
    assert macd["parameters"] == [
        {"name": "fast", "type": "int", "min": 8, "max": 16, "default": 12},
        {"name": "slow", "type": "int", "min": 20, "max": 32, "default": 26},
        {"name": "signal", "type": "int", "min": 5, "max": 12, "default": 9}]
    assert macd["constraints"] == ["fast < slow"]
    threshold = next(d for d in data if d["name"] == "ADX_DMI")["parameters"][1]
    assert threshold == {"name": "adx_threshold", "type": "float", "min": 10.0, "max": 40.0, "default": 20.0}


def test_list_table_shows_names_and_parameter_ranges():
    result = runner.invoke(app, ["strategies", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "60 strategies" in result.output
    assert "VWAP_MEAN_REVERSION" in result.output and "fast int [8, 16] = 12" in result.output


def test_show_prints_rules_indicators_parameters_and_windows():
    result = runner.invoke(app, ["strategies", "show", "sma_rsi"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("SMA_RSI", "entry", "rsi(length=rsi_period) < oversold", "exit", "overbought", "ma_period",
                 "look-back with defaults", "live window"):
        assert text in result.output


def test_show_unknown_strategy_fails_with_suggestions():
    result = runner.invoke(app, ["strategies", "show", "MACD_CROSOVER"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "unknown strategy 'MACD_CROSOVER'" in result.output and "MACD_CROSSOVER" in result.output


def test_check_prints_a_table_per_strategy_and_exits_zero_when_no_bias_is_found():
    result = runner.invoke(app, ["strategies", "check", "macd_crossover", "vwap_crossover", "--draws", "1"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("MACD_CROSSOVER: no bias found", "VWAP_CROSSOVER: no bias found", "lookahead", "warmup",
                 "fast=12, slow=26, signal=9", "bars compared", "2 of 2 strategies free of lookahead and warm-up bias"):
        assert text in result.output, text
    assert result.output.count("pass") == 8  # 2 strategies x 2 parameter sets x 2 checks


def test_check_with_given_parameters_and_bad_arguments():
    result = runner.invoke(app, ["strategies", "check", "SMA_RSI", "--param", "rsi_period=9"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "rsi_period=9" in result.output and result.output.count("pass") == 2
    assert runner.invoke(app, ["strategies", "check", "NOPE"]).exit_code == 2
    assert runner.invoke(app, ["strategies", "check", "SMA_RSI", "MACD_CROSSOVER", "--param", "x=1"]).exit_code == 2
