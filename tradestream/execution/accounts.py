"""Accounts and allocations: who trades which strategy entry with how much money, under which limits.

A YAML file (``default_accounts.yaml`` beside this module is the one ``make run`` uses)::

    accounts:
      - name: paper
        cash: 100000                 # starting cash of the account (quote currency)
        fill_model: candle_close     # or next_trade (latency_ms, the allocation's slippage)
        latency_ms: 0
        mode: paper                  # live places real orders, and only with --mode live
                                     # and the account on the allow-list
        limits:                      # every limit is optional; left out = off
          max_order_notional: 15000
          max_position_notional: 50000   # per pair, over the account's allocations
          max_gross_exposure: 100000
          max_open_positions: 8
          daily_loss_limit: 0.05         # fraction of the UTC day's starting equity
          on_daily_loss: reducing        # or halted
          max_drawdown: 0.15             # fraction below the peak equity
          on_max_drawdown: halted        # or reducing
          max_signal_age_s: 300
          max_orders_per_minute: 30
        allocations:
          - strategy: MACD_CROSSOVER     # one live strategy entry: strategy, params, pair, timeframe
            params: {}                   # validated like the live strategy config (defaults filled in)
            pair: BTC-USD
            timeframe: 1m
            share: 0.25                  # of the account's starting cash
            fees: 0.001                  # the backtester's assumptions (BacktestConfig)
            slippage_bps: 5
            size: 1.0

An allocation is one strategy entry of the live strategy config (``ActiveEntry``: the
same validation, the same key), trading with its own cash, ``share * cash``, by the
backtester's rules: one allocation's paper trades are one backtest with
``allocation.backtest_config()``. Stops are not part of it: the executor acts on signals.

``load_accounts`` raises ``AccountsConfigError`` naming the file and the line of the
first bad entry; ``reload_accounts`` returns the running config and that error instead,
so a broken edit never stops the executor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.errors import BacktestInputError
from tradestream.params import ParamValue
from tradestream.strategies.config import ActiveEntry, ActiveStrategySet

DEFAULT_ACCOUNTS_FILE = Path(__file__).with_name("default_accounts.yaml")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SHARE_TOLERANCE = 1e-9

FillModelName = Literal["candle_close", "next_trade"]
ModeName = Literal["paper", "live"]
Breach = Literal["reducing", "halted"]


class RiskLimits(BaseModel):
    """Pre-trade limits of one account; None switches a rule off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_notional: float | None = Field(None, gt=0, description="Largest BUY, in quote currency.")
    max_position_notional: float | None = Field(
        None, gt=0, description="Largest exposure to one pair over the account's allocations, after the order.")
    max_gross_exposure: float | None = Field(
        None, gt=0, description="Largest sum of the account's position notionals, after the order.")
    max_open_positions: int | None = Field(None, ge=0, description="Most allocations long at once.")
    daily_loss_limit: float | None = Field(
        None, gt=0, lt=1, description="Loss from the UTC day's starting equity (fraction) that stops new entries.")
    on_daily_loss: Breach = Field("reducing", description="Status after the daily loss limit: exits only, or none.")
    max_drawdown: float | None = Field(None, gt=0, lt=1, description="Drawdown from the peak equity (fraction).")
    on_max_drawdown: Breach = Field("halted", description="Status after the drawdown limit.")
    max_signal_age_s: float | None = Field(
        300.0, gt=0, description="Signals older than this (from their candle's close) are not acted on.")
    max_orders_per_minute: int | None = Field(None, gt=0, description="Orders per account in any 60 s.")


class AllocationConfig(BaseModel):
    """One live strategy entry trading a share of its account's cash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    pair: str
    timeframe: str = "1m"
    share: float = Field(gt=0, le=1, description="Fraction of the account's starting cash.")
    fees: float = 0.001
    slippage_bps: float = 0.0
    size: float = 1.0

    @model_validator(mode="after")
    def _check(self) -> AllocationConfig:
        self.entry  # noqa: B018 - validates strategy, parameters, pair and timeframe
        try:
            BacktestConfig(cash=1.0, fees=self.fees, slippage_bps=self.slippage_bps, size=self.size)
        except BacktestInputError as exc:
            raise ValueError(str(exc)) from None
        return self

    @cached_property
    def entry(self) -> ActiveEntry:
        """The strategy entry, validated by the live strategy config's own rules."""
        document = {"strategies": [{"strategy": self.strategy, "params": dict(self.params),
                                    "pairs": [self.pair], "timeframes": [self.timeframe]}]}
        try:
            active, errors = ActiveStrategySet.from_dict(document)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        if errors:
            raise ValueError(errors[0].message)
        if len(active.entries) != 1:
            raise ValueError(f"strategy {self.strategy!r} must name one strategy ('*' is not allowed here)")
        return active.entries[0]

    @property
    def entry_key(self) -> str:
        return self.entry.key


class AccountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cash: float = Field(gt=0, description="Starting cash, quote currency.")
    mode: ModeName = "paper"
    fill_model: FillModelName = "candle_close"
    latency_ms: float = Field(0.0, ge=0, le=3_600_000)
    limits: RiskLimits = Field(default_factory=RiskLimits)
    allocations: list[AllocationConfig] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"account name {value!r} must be 1-63 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("cash")
    @classmethod
    def _finite_cash(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"cash={value!r} must be a finite number")
        return value

    @model_validator(mode="after")
    def _check(self) -> AccountConfig:
        total = sum(a.share for a in self.allocations)
        if total > 1 + _SHARE_TOLERANCE:
            raise ValueError(f"account {self.name}: allocation shares add up to {total:g} > 1")
        seen: set[tuple[str, str, str]] = set()
        for a in self.allocations:
            key = (a.entry_key, a.pair, a.timeframe)
            if key in seen:
                raise ValueError(f"account {self.name}: {a.entry_key} on {a.pair} {a.timeframe} is allocated twice; "
                                 "one position per allocation, so merge the two shares")
            seen.add(key)
        return self


@dataclass(frozen=True)
class Allocation:
    """An allocation as the executor uses it: its account's settings resolved."""

    account: str
    config: AllocationConfig
    cash: float
    fill_model: FillModelName
    latency_ns: int

    @cached_property
    def id(self) -> str:
        """Computed once: the executor looks it up many times per signal (once per allocation of the account)."""
        return allocation_id(self.account, self.config.entry_key, self.config.pair, self.config.timeframe)

    @property
    def entry(self) -> ActiveEntry:
        return self.config.entry

    @property
    def pair(self) -> str:
        return self.config.pair

    @property
    def timeframe(self) -> str:
        return self.config.timeframe

    def backtest_config(self) -> BacktestConfig:
        """The backtest this allocation's paper trades equal (with candle_close fills)."""
        c = self.config
        return BacktestConfig(cash=self.cash, fees=c.fees, slippage_bps=c.slippage_bps, size=c.size)


def allocation_id(account: str, entry_key: str, pair: str, timeframe: str) -> str:
    """``account/STRATEGY{params}/PAIR/TIMEFRAME``: stable across restarts and config reloads."""
    return f"{account}/{entry_key}/{pair}/{timeframe}"


class AccountsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[AccountConfig] = Field(default_factory=list)
    trade_buffer_s: float = Field(
        120.0, gt=0, le=3600,
        description="next_trade: seconds of trades kept per pair, for signals that arrive after their fill trade.")

    @model_validator(mode="after")
    def _unique(self) -> AccountsConfig:
        names = [a.name for a in self.accounts]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"account name(s) {duplicated} appear more than once")
        return self

    def account(self, name: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.name == name), None)

    def allocations(self) -> list[Allocation]:
        out = []
        for account in self.accounts:
            for a in account.allocations:
                out.append(Allocation(account.name, a, account.cash * a.share, account.fill_model,
                                      int(round(account.latency_ms * 1_000_000))))
        return out


class AccountsConfigError(ValueError):
    """The accounts file cannot be used; ``path`` and ``line`` (1-based, None if unknown) say where."""

    def __init__(self, path: str | Path | None, line: int | None, message: str):
        self.path = None if path is None else str(path)
        self.line = line
        self.detail = message
        where = self.path or "<accounts config>"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}")


def parse_accounts(text: str, path: str | Path | None = None) -> AccountsConfig:
    """Validate YAML (or JSON) text; AccountsConfigError names the line of the first bad entry."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise AccountsConfigError(path, None if mark is None else mark.line + 1,
                                  f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        raise AccountsConfigError(path, None, "the file is empty; it needs an 'accounts' list")
    if not isinstance(data, Mapping):
        raise AccountsConfigError(path, 1, f"expected a mapping with an 'accounts' list, got {type(data).__name__}")
    try:
        return AccountsConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        line = _line_of(node, loc)
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        value = error.get("input")
        shown = "" if isinstance(value, (Mapping, list)) or error["type"] == "missing" else f" (got {value!r})"
        count = exc.error_count()
        more = f"; {count - 1} more error(s) after this one" if count > 1 else ""
        raise AccountsConfigError(path, line, f"{field}: {message}{shown}{more}") from None


def load_accounts(path: str | Path | None = None) -> AccountsConfig:
    """The accounts file at ``path`` (the default paper account when None)."""
    file = Path(path) if path is not None else DEFAULT_ACCOUNTS_FILE
    try:
        text = file.read_text()
    except OSError as exc:
        raise AccountsConfigError(file, None, f"cannot be read ({exc.strerror or exc})") from None
    return parse_accounts(text, file)


@dataclass(frozen=True)
class ReloadOutcome:
    config: AccountsConfig
    error: AccountsConfigError | None = None

    @property
    def changed(self) -> bool:
        return self.error is None


def reload_accounts(path: str | Path | None, running: AccountsConfig) -> ReloadOutcome:
    """The file's config, or the running one and the error when the file is bad (hot reload)."""
    try:
        return ReloadOutcome(load_accounts(path))
    except AccountsConfigError as exc:
        return ReloadOutcome(running, exc)


def _line_of(node: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """1-based line of the deepest YAML node on the path ``loc`` (pydantic's error location).

    A mapping key gives the line it is written on, a list item its first line; a missing
    key gives the line of the entry that lacks it.
    """
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
