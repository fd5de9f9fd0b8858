"""The accounts file: validation, errors that name the line, hot reload keeping the running config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradestream.execution.accounts import (
    DEFAULT_ACCOUNTS_FILE,
    AccountsConfigError,
    load_accounts,
    parse_accounts,
    reload_accounts,
)
from tradestream_assets.research.assets import FALLBACK_STRATEGIES

GOOD = """\
accounts:
  - name: main
    cash: 10000
    limits:
      max_drawdown: 0.2
    allocations:
      - strategy: MACD_CROSSOVER
        pair: BTC-USD
        share: 0.5
      - strategy: SMA_RSI
        pair: ETH-USD
        timeframe: 5m
        share: 0.25
        fees: 0.002
"""


def test_the_default_config_is_one_paper_account_on_the_fallback_strategies():
    config = load_accounts()
    (account,) = config.accounts
    assert account.mode == "paper" and account.fill_model == "candle_close"
    assert {a.strategy for a in account.allocations} == set(FALLBACK_STRATEGIES)
    assert sum(a.share for a in account.allocations) == pytest.approx(1.0)
    assert load_accounts(DEFAULT_ACCOUNTS_FILE) == config


def test_allocations_resolve_to_live_strategy_entries_and_backtest_configs():
    config = parse_accounts(GOOD)
    first, second = config.allocations()
    assert first.entry.key == 'MACD_CROSSOVER{"fast":12,"signal":9,"slow":26}'  # defaults filled in
    assert first.id == f"main/{first.entry.key}/BTC-USD/1m"
    assert first.backtest_config().cash == 5000.0
    assert (second.backtest_config().cash, second.backtest_config().fees, second.timeframe) == (2500.0, 0.002, "5m")


@pytest.mark.parametrize(("text", "line", "words"), [
    (GOOD.replace("cash: 10000", "cash: -5"), 3, "greater than 0"),
    (GOOD.replace("share: 0.25", "share: 0.75"), 2, "add up to 1.25"),
    (GOOD.replace("max_drawdown: 0.2", "max_drawdown: 2"), 5, "less than 1"),
    (GOOD.replace("max_drawdown: 0.2", "max_drawdon: 0.2"), 5, "max_drawdon"),
    (GOOD.replace("strategy: SMA_RSI", "strategy: NOPE"), 10, "NOPE"),
    (GOOD.replace("pair: ETH-USD", "pair: eth"), 10, "BTC-USD"),
    (GOOD.replace("timeframe: 5m", "timeframe: 7m"), 10, "7m"),
    (GOOD.replace("fees: 0.002", "fees: 0.5"), 10, "fees=0.5"),
    (GOOD.replace("        pair: BTC-USD\n", ""), 7, "pair: Field required"),
    (GOOD.replace("    cash: 10000\n", "    cash: [10000\n"), 4, "not valid YAML"),
    (GOOD + "  - name: main\n    cash: 1\n", 1, "more than once"),
])
def test_a_malformed_file_names_the_file_and_the_line(tmp_path: Path, text: str, line: int, words: str):
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    with pytest.raises(AccountsConfigError) as caught:
        load_accounts(path)
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"{path}, line {line}: ")
    assert words in str(caught.value)


def test_reload_keeps_the_running_config_when_the_file_breaks(tmp_path: Path):
    path = tmp_path / "accounts.yaml"
    path.write_text(GOOD)
    running = load_accounts(path)
    path.write_text(GOOD.replace("share: 0.5", "share: lots"))
    outcome = reload_accounts(path, running)
    assert outcome.config is running and not outcome.changed
    assert outcome.error is not None and outcome.error.line == 9
    path.write_text(GOOD.replace("share: 0.5", "share: 0.6"))
    outcome = reload_accounts(path, running)
    assert outcome.changed and outcome.config.accounts[0].allocations[0].share == 0.6


def test_a_missing_or_empty_file_says_so(tmp_path: Path):
    with pytest.raises(AccountsConfigError, match="cannot be read"):
        load_accounts(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(AccountsConfigError, match="empty"):
        load_accounts(tmp_path / "empty.yaml")
