"""`tradestream backtest | optimize | walk-forward` on a candle file, with the real strategy library."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tradestream.strategies.synthetic import synthetic_candles
from tradestream_cli.backtest import app

RANGE = ["--from", "2024-01-01", "--to", "2024-01-02"]


@pytest.fixture
def candle_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADESTREAM_HOME", str(tmp_path / "home"))
    path = tmp_path / "candles.csv"
    synthetic_candles(days=2, seed=11).rename_axis("window_start").reset_index().to_csv(path, index=False)
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_backtest_prints_the_metrics_table(candle_file: Path, tmp_path: Path) -> None:
    chart = tmp_path / "equity.png"
    result = invoke("backtest", "-s", "double-ema-crossover", "--source", str(candle_file), *RANGE,
                    "-p", "short_period=8", "--chart", str(chart), "--trades")
    assert result.exit_code == 0, result.output
    for label in ("Total return", "Sharpe", "Max drawdown", "Composite score", "DOUBLE_EMA_CROSSOVER"):
        assert label in result.output
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_backtest_json_and_save_write_the_same_run(candle_file: Path, tmp_path: Path) -> None:
    result = invoke("backtest", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file), *RANGE, "--json",
                    "--save", "--fees", "0.0005")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[:result.output.rindex("}") + 1])
    assert payload["params"] == {"short_period": 10, "long_period": 30} and payload["bars"] == 2880
    con = duckdb.connect(str(tmp_path / "home" / "tradestream.duckdb"), read_only=True)
    stored = con.execute("SELECT strategy, fees, sharpe FROM backtest_results").fetchall()
    assert stored == [("DOUBLE_EMA_CROSSOVER", 0.0005, payload["metrics"]["sharpe"])]


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "short_period=500"], "short_period=500 is outside its range [3, 30]"),
    (["-p", "short_period"], "--param 'short_period' must look like NAME=VALUE"),
    (["--fees", "0.5"], "fees=0.5 is outside [0, 0.1]"),
    (["--slippage-bps", "-1"], "slippage_bps=-1.0 is outside [0, 1000] basis points"),
    (["--timeframe", "5m"], "candles have bars closer than 5m"),  # a file without a timeframe column
])
def test_bad_input_exits_with_the_value_named(candle_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["backtest", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file), *RANGE,
                                      *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_a_range_without_candles_is_an_error_not_an_empty_result(candle_file: Path) -> None:
    result = CliRunner().invoke(app, ["backtest", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file),
                                      "--from", "2025-01-01", "--to", "2025-01-02"])
    assert result.exit_code == 1
    assert "no BTC-USD 1m candles in" in result.output and "available:" in result.output


def test_optimize_resumes_its_study(candle_file: Path) -> None:
    args = ["optimize", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file), *RANGE, "--population", "8",
            "--json"]
    first = invoke(*args, "--generations", "2")
    assert first.exit_code == 0, first.output
    again = invoke(*args, "--generations", "3")
    payload = json.loads(again.output)
    assert (payload["trials"], payload["resumed_trials"]) == (24, 16)
    assert payload["study"] == json.loads(first.output)["study"]
    assert payload["best_metrics"]["sharpe"] == payload["best_value"]


def test_optimize_shows_the_best_trials(candle_file: Path) -> None:
    result = invoke("optimize", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file), *RANGE, "--method",
                    "random", "--trials", "6", "--top", "3")
    assert result.exit_code == 0, result.output
    assert "top 3 of 6 trials by sharpe" in result.output and "short_period" in result.output


def test_walk_forward_reports_folds_and_a_verdict(candle_file: Path) -> None:
    result = invoke("walk-forward", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file), *RANGE, "--method",
                    "random", "--trials", "4", "--folds", "3", "--in-sample-ratio", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert len(report["folds"]) == 3 and isinstance(report["passed"], bool)
    assert report["deflated_sharpe"] <= report["out_of_sample"]["sharpe"]
    table = invoke("walk-forward", "-s", "DOUBLE_EMA_CROSSOVER", "--source", str(candle_file), *RANGE, "--method",
                   "random", "--trials", "4", "--folds", "3", "--in-sample-ratio", "2", "--fail-on-reject")
    assert table.exit_code == (0 if report["passed"] else 3)
    assert ("PASS" if report["passed"] else "FAIL") in table.output
