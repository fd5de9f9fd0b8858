"""History import end to end: the REST stand-in of Coinbase Exchange -> the runner -> a real DuckDB file.

The stand-in (``tests/venues/coinbase/exchange_rest.py``) is a real HTTP server paginated like
the venue; the candles are checked against the independent DuckDB SQL reference over the
stored trades, the trades against the stand-in's own list.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from streaming.history.importer import HistoryImporter, ImportInputError
from streaming.venues.coinbase.history import CoinbaseHistoryClient
from tests.venues.coinbase.exchange_rest import NS, ExchangeRestStandIn, Product, generate_product
from tradestream import store
from tradestream.backoff import Backoff
from tradestream.candles.model import CandleRecord
from tradestream.candles.reference import diff_candles, reference_candles
from tradestream.history import catalog
from tradestream.timeframes import TIMEFRAMES

DAY = 86_400 * NS
FIRST = date(2025, 2, 1)
LAST = date(2025, 2, 3)
FROM_NS = pd.Timestamp(FIRST, tz="UTC").value
TO_NS = FROM_NS + 3 * DAY
NOW_NS = TO_NS + 5 * DAY
CAP_S = 86_400
BTC_MISSING = frozenset({5_004_000, 5_004_001})   # ids the venue lost: a gap the import must list


def full_page(pair: str):
    return lambda path, params: path == f"/products/{pair}/trades" and params.get("limit") == "1000"


def nth_page(product: Product, k: int):
    """The k-th full page of ``product``'s range counting from the newest (0-based; no gap above it), by cursor."""
    cursor = str(int(product.trade_id[product.event_ns < TO_NS][-1]) + 1 - 1000 * k)
    return lambda path, params: path == f"/products/{product.product_id}/trades" and params.get("after") == cursor \
        and params.get("limit") == "1000"


@pytest.fixture(scope="module")
def products() -> list[Product]:
    # an hour before the range, so the first day has a carry; BTC keeps trading after it
    btc = generate_product("BTC-USD", start_ns=FROM_NS - 3600 * NS, end_ns=TO_NS + DAY, mean_spacing_s=30,
                           first_id=5_000_000, seed=11, missing=BTC_MISSING)
    eth = generate_product("ETH-USD", start_ns=FROM_NS + 7 * 60 * NS, end_ns=TO_NS - 3 * 3600 * NS,
                           mean_spacing_s=50, first_id=800_000, seed=12, start_price=3_000.0)
    return [btc, eth]


@pytest.fixture
def standin(products):
    with ExchangeRestStandIn(products) as server:
        yield server


def run_import(url: str, db: Path, pairs=("BTC-USD", "ETH-USD"), first=FIRST, last=LAST, what="trades",
               chunk_trades: int = 2_500):
    async def main():
        client = CoinbaseHistoryClient(url, rate_per_s=2_000, burst=200, backoff=Backoff(base_s=0.01, max_s=0.05))
        try:
            importer = HistoryImporter(client, db, fill_cap_s=CAP_S, now_ns=NOW_NS, chunk_trades=chunk_trades)
            return {r.pair: r for r in await importer.run(list(pairs), first, last, what)}
        finally:
            await client.aclose()

    return asyncio.run(main())


def in_range(product: Product) -> np.ndarray:
    return (product.event_ns >= FROM_NS) & (product.event_ns < TO_NS)


def stored_trades(db: Path) -> pd.DataFrame:
    with store.reader(db) as con:
        return con.execute("SELECT currency_pair, trade_id, price, size, taker_side, epoch_ns(event_time) AS ns, "
                           "source FROM trades ORDER BY ALL").df()


def stored_candles(db: Path, source: str = "history") -> list[CandleRecord]:
    with store.reader(db) as con:
        rows = con.execute("SELECT currency_pair, timeframe, epoch_ns(window_start), epoch_ns(window_end), open, high, "
                           "low, close, volume, vwap, trade_count, filled FROM candles WHERE source = ?",
                           [source]).fetchall()
    return [CandleRecord(p, tf, ws, we, o, h, lo, c, v, vw, n, f) for p, tf, ws, we, o, h, lo, c, v, vw, n, f in rows]


def reference(db: Path) -> list[CandleRecord]:
    """The SQL reference over every stored trade (the carry trade before the range included), windows of the range."""
    with store.reader(db) as con:
        candles = reference_candles(con, "(SELECT * FROM trades WHERE exchange = 'coinbase')", timeframes=TIMEFRAMES,
                                    until_ns=TO_NS, fill_cap_s=CAP_S, event_ns_expr="epoch_ns(event_time)")
    return [c for c in candles if c.window_start_ns >= FROM_NS]


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row that matters, without the times of writing."""
    with store.reader(db) as con:
        return {
            "trades": con.execute("SELECT * EXCLUDE (ingest_time) FROM trades ORDER BY ALL").fetchall(),
            "candles": con.execute("SELECT * EXCLUDE (emitted_at) FROM candles ORDER BY ALL").fetchall(),
            "days": con.execute("SELECT * EXCLUDE (imported_at) FROM history_days ORDER BY ALL").fetchall(),
            "gaps": con.execute("SELECT * EXCLUDE (found_at) FROM history_gaps ORDER BY ALL").fetchall(),
            "coverage": con.execute("SELECT * EXCLUDE (updated_at) FROM history_coverage ORDER BY ALL").fetchall(),
        }


def test_several_days_of_two_pairs_land_once_with_reference_candles_and_right_counts(standin, products, tmp_path):
    btc, eth = products
    standin.fail("429", times=2, retry_after="0.2", when=full_page("BTC-USD"))
    standin.fail("500", when=full_page("ETH-USD"))
    standin.fail("disordered", when=nth_page(btc, 2))
    standin.fail("overlap", when=nth_page(eth, 1))
    standin.fail("malformed", when=nth_page(eth, 2))      # asked for again, then fine
    db = tmp_path / "h.duckdb"
    reports = run_import(standin.url, db)
    assert sorted(r.fault for r in standin.requests if r.fault) == ["429", "429", "500", "disordered", "malformed",
                                                                     "overlap"], "every fault was met"

    trades = stored_trades(db)
    for product in products:
        mine = trades[trades.currency_pair == product.product_id]
        expected = set(product.trade_id[in_range(product)].astype(str))
        held = set(mine.trade_id)
        assert len(mine) == len(held), "every trade once"
        carry = held - expected  # the newest trade before the range: the first day's carry
        assert expected <= held and len(carry) <= 1
        k = np.flatnonzero(in_range(product))[0]
        row = mine.set_index("trade_id").loc[str(product.trade_id[k])]
        assert (row["price"], row["size"], row["ns"], row["source"]) == (product.price[k], product.size[k],
                                                                          product.event_ns[k],
                                                              "history")
    assert diff_candles(stored_candles(db), reference(db)) == []

    r_btc, r_eth = reports["BTC-USD"], reports["ETH-USD"]
    assert r_btc.ok and r_eth.ok
    for report, product in ((r_btc, btc), (r_eth, eth)):
        n = int(in_range(product).sum())
        assert (report.trades_fetched, report.trades_new, report.days_done) == (n, n, 3)
        served = [r for r in standin.requests_for(f"/products/{product.product_id}/trades")
                  if r.status == 200 and r.params.get("limit") != "1" and r.fault != "malformed"]
        # pages are the pages used; a page asked for early on a guessed cursor is dropped after a gap
        assert report.pages <= len(served) <= report.pages + report.gaps
    assert (r_btc.gaps, r_btc.missing_ids, r_eth.gaps) == (1, 2, 0)
    assert (r_btc.disordered_pages, r_eth.duplicates) == (1, 3)
    assert r_btc.candles + r_eth.candles == len(stored_candles(db))
    with store.reader(db) as con:
        gaps = con.execute("SELECT currency_pair, first_id, last_id FROM history_gaps").fetchall()
        days = catalog.days(con, "coinbase", "BTC-USD", FIRST, LAST)
        check = catalog.completeness(con, "coinbase", "BTC-USD", pd.Timestamp(FIRST).to_pydatetime(),
                                     pd.Timestamp(LAST).to_pydatetime())
    assert gaps == [("BTC-USD", 5_004_000, 5_004_001)]
    assert all(day.complete for day in days.values()) and len(days) == 3
    assert sum(day.missing_ids for day in days.values()) == 2
    assert check.covered and [str(s) for s in check.missing] == ["5004000-5004001"] and check.unexplained == []


def test_an_interrupted_import_resumed_gives_what_an_uninterrupted_one_gives(standin, products, tmp_path):
    whole = tmp_path / "whole.duckdb"
    assert all(r.ok for r in run_import(standin.url, whole).values())

    parts = tmp_path / "parts.duckdb"
    standin.fail("malformed", times=3, when=nth_page(products[0], 4))
    first = run_import(standin.url, parts)
    btc = first["BTC-USD"]
    cursor = int(products[0].trade_id[products[0].event_ns < TO_NS][-1]) + 1 - 4000
    assert not btc.ok and btc.stopped_at == f"after={cursor}"
    assert "malformed page 3 times" in btc.error and "run the import again" in btc.error
    assert first["ETH-USD"].ok, "the other pair goes on"
    held = stored_trades(parts)
    btc_ids = held[held.currency_pair == "BTC-USD"].trade_id.astype(int)
    carry = products[0].trade_id[~in_range(products[0]) & (products[0].event_ns < FROM_NS)][-1]
    assert btc_ids[btc_ids != carry].min() == cursor, "what was fetched before the bad page was written"
    with store.reader(parts) as con:
        assert catalog.coverage(con, "coinbase", "BTC-USD")[-1].first == cursor

    standin.requests.clear()
    second = run_import(standin.url, parts)
    assert all(r.ok for r in second.values())
    pages = [int(r.params["after"]) for r in standin.requests_for("/products/BTC-USD/trades")
             if r.params.get("limit") == "1000"]
    assert max(pages) <= cursor, "the resumed run fetched only what was missing"
    assert second["ETH-USD"].days_skipped == 3 and not standin.requests_for("/products/ETH-USD/trades")
    assert snapshot(parts) == snapshot(whole)


def test_a_complete_import_run_again_fetches_no_page_and_changes_nothing(standin, tmp_path):
    db = tmp_path / "h.duckdb"
    run_import(standin.url, db, pairs=("ETH-USD",))
    before = snapshot(db)
    standin.requests.clear()
    again = run_import(standin.url, db, pairs=("ETH-USD",))["ETH-USD"]
    assert again.ok and (again.days_skipped, again.pages, again.trades_new) == (3, 0, 0)
    assert [r.path for r in standin.requests] == ["/products/ETH-USD"]
    assert snapshot(db) == before


def test_history_candles_replace_what_a_stream_that_missed_trades_stored(standin, products, tmp_path):
    btc = products[0]
    db = tmp_path / "h.duckdb"
    k = np.flatnonzero(in_range(btc))[10]
    minute = btc.event_ns[k] - btc.event_ns[k] % (60 * NS)
    with store.writer(db) as con:
        # the stream saw one trade of that minute, and stored a candle of it alone
        con.execute("INSERT INTO trades VALUES ('coinbase', 'BTC-USD', ?, ?, ?, 'buy', ?, NULL, 'stream')",
                    [str(btc.trade_id[k]), btc.price[k], btc.size[k], pd.Timestamp(int(btc.event_ns[k]), unit="ns")])
        store.upsert_candles(con, store.frame([store.CandleRow(
            "BTC-USD", "1m", pd.Timestamp(int(minute), unit="ns"), pd.Timestamp(int(minute + 60 * NS), unit="ns"),
            1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1, False, 3, None, "stream")], store.CANDLE_TABLE_COLUMNS))
    run_import(standin.url, db, pairs=("BTC-USD",), first=FIRST, last=FIRST)
    with store.reader(db) as con:
        source, count = con.execute("SELECT source, trade_count FROM candles WHERE timeframe = '1m' AND "
                                    "window_start = ?", [pd.Timestamp(int(minute), unit="ns")]).fetchone()
        trade_source = con.execute("SELECT source FROM trades WHERE trade_id = ?", [str(btc.trade_id[k])]).fetchone()
    expected = int(((btc.event_ns >= minute) & (btc.event_ns < minute + 60 * NS)).sum())
    assert (source, count) == ("history", expected)
    assert trade_source == ("stream",), "a trade keeps the source it was first stored from"


def test_bars_only_import_stores_the_venues_candles_and_rolls_4h_up_from_1h(standin, products, tmp_path):
    db = tmp_path / "h.duckdb"
    report = run_import(standin.url, db, pairs=("BTC-USD",), first=FIRST, last=date(2025, 2, 2), what="candles")
    assert report["BTC-USD"].ok
    with store.reader(db) as con:
        bars = con.execute("SELECT timeframe, epoch_ns(window_start) AS ws, open, high, low, close, volume, vwap, "
                           "trade_count, filled, source FROM candles").df()
        assert con.execute("SELECT count(*) FROM trades").fetchone()[0] == 0
    btc = products[0]
    frame = pd.DataFrame({"ns": btc.event_ns, "price": btc.price, "size": btc.size})
    frame = frame[(frame.ns >= FROM_NS) & (frame.ns < FROM_NS + 2 * DAY)]
    for tf, minutes in (("1m", 1), ("15m", 15), ("4h", 240), ("1d", 1440)):
        step = minutes * 60 * NS
        want = frame.groupby(frame.ns - frame.ns % step).agg(open=("price", "first"), high=("price", "max"),
                                                            low=("price", "min"), close=("price", "last"),
                                                            volume=("size", "sum"))
        got = bars[bars.timeframe == tf].set_index("ws").sort_index()
        assert list(got.index) == list(want.index), tf
        assert (got[["open", "high", "low", "close"]].to_numpy() == want[["open", "high", "low", "close"]].to_numpy()
                ).all(), tf
        assert np.allclose(got.volume, want.volume, rtol=1e-9), tf
    assert set(bars.source) == {"exchange"} and bars.vwap.isna().all() and bars.trade_count.isna().all()


def test_an_unknown_product_is_named_and_the_other_pairs_are_imported(standin, tmp_path):
    reports = run_import(standin.url, tmp_path / "h.duckdb", pairs=("DOGE-EUR", "ETH-USD"))
    assert "unknown product 'DOGE-EUR' at coinbase" in reports["DOGE-EUR"].error
    assert reports["ETH-USD"].ok


@pytest.mark.parametrize(("first", "last", "message"), [
    (date(2025, 2, 3), date(2025, 2, 1), "the range from 2025-02-03 to 2025-02-01 is reversed"),
    (date(2030, 1, 1), date(2030, 1, 2), "lies in the future"),
])
def test_a_reversed_or_future_range_is_refused_before_any_request(standin, tmp_path, first, last, message):
    with pytest.raises(ImportInputError, match=message):
        run_import(standin.url, tmp_path / "h.duckdb", first=first, last=last)
    assert standin.requests == []


def test_a_range_without_trades_imports_nothing_and_is_held_as_done(standin, tmp_path):
    db = tmp_path / "h.duckdb"
    before_listing = run_import(standin.url, db, pairs=("ETH-USD",), first=date(2025, 1, 20),
                                last=date(2025, 1, 21))["ETH-USD"]
    assert before_listing.ok and (before_listing.days_done, before_listing.pages, before_listing.trades_fetched,
                                  before_listing.candles) == (2, 0, 0, 0)
    with store.reader(db) as con:
        assert con.execute("SELECT count(*) FROM trades").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM candles").fetchone() == (0,)
    again = run_import(standin.url, db, pairs=("ETH-USD",), first=date(2025, 1, 20), last=date(2025, 1, 21))
    assert again["ETH-USD"].days_skipped == 2


def test_the_cli_prints_a_summary_and_fails_naming_an_unknown_pair(standin, tmp_path, monkeypatch):
    from tradestream_cli.main import app

    db = tmp_path / "cli.duckdb"
    env = {"TRADESTREAM_DUCKDB_PATH": str(db), "TRADESTREAM_COINBASE_REST_RATE_PER_S": "2000",
           "TRADESTREAM_COINBASE_REST_BURST": "200", "COLUMNS": "200"}
    runner = CliRunner()
    standin.fail("429", retry_after="0.1", when=full_page("ETH-USD"))
    standin.fail("500", when=full_page("ETH-USD"))
    standin.fail("malformed", when=full_page("ETH-USD"))
    result = runner.invoke(app, ["history", "import", "--pairs", "ETH-USD,FOO-USD", "--from", "2025-02-01",
                                 "--to", "2025-02-01", "--rest-url", standin.url], env=env)
    assert result.exit_code == 1
    assert "unknown product 'FOO-USD' at coinbase" in result.output
    assert "rate limited (429): 1; server errors (5xx): 1; connection errors: 0; malformed pages: 1;" in result.output
    assert f"requests: {len(standin.requests):,};" in result.output
    summary = next(line for line in result.output.splitlines() if line.startswith("│ ETH-USD"))
    with store.reader(db) as con:
        n = con.execute("SELECT count(*) FROM trades WHERE event_time < '2025-02-02'").fetchone()[0]
    assert "1/1" in summary and f"{n:,}" in summary and "ok" in summary
    status = runner.invoke(app, ["history", "status", "--pairs", "ETH-USD"], env=env)
    assert status.exit_code == 0 and "history held in" in status.output and "1m" in status.output
    bad = runner.invoke(app, ["history", "import", "--pairs", "ETH-USD", "--from", "2025-02-31", "--to",
                              "2025-03-01"], env=env)
    assert bad.exit_code == 1 and "--from '2025-02-31' is not a date" in bad.output


def test_the_store_file_without_history_tables_reads_as_empty(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("CREATE TABLE trades (exchange VARCHAR, currency_pair VARCHAR, trade_id VARCHAR, price DOUBLE, "
                "size DOUBLE, taker_side VARCHAR, event_time TIMESTAMP_NS, ingest_time TIMESTAMP_NS, "
                "PRIMARY KEY (exchange, currency_pair, trade_id))")
    con.close()
    with store.writer(tmp_path / "old.duckdb") as con:   # a store from before: source column and tables added
        assert "source" in [row[0] for row in con.execute("DESCRIBE trades").fetchall()]
        assert catalog.coverage(con, "coinbase", "BTC-USD") == []


def test_the_quick_start_imports_days_then_backtests_on_them_and_says_they_were_history(standin, tmp_path):
    """README's quick start, against the stand-in: `history import`, then `backtest` on the imported days."""
    from tradestream_cli.main import app

    db = tmp_path / "quick.duckdb"
    env = {"TRADESTREAM_DUCKDB_PATH": str(db), "TRADESTREAM_COINBASE_REST_RATE_PER_S": "2000",
           "TRADESTREAM_COINBASE_REST_BURST": "200", "COLUMNS": "200"}
    runner = CliRunner()
    imported = runner.invoke(app, ["history", "import", "--pairs", "BTC-USD", "--from", "2025-02-01", "--to",
                                   "2025-02-03", "--rest-url", standin.url], env=env)
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(app, ["backtest", "-s", "DOUBLE_EMA_CROSSOVER", "--pair", "BTC-USD", "-t", "15m",
                                 "--from", "2025-02-01", "--to", "2025-02-03", "--json"], env=env)
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["bars"] == 3 * 96
    assert run["candle_sources"] == [{"source": "history", "first": "2025-02-01 00:00:00",
                                      "last": "2025-02-03 23:45:00", "bars": 3 * 96}]
    table = runner.invoke(app, ["backtest", "-s", "DOUBLE_EMA_CROSSOVER", "--pair", "BTC-USD", "-t", "15m",
                                "--from", "2025-02-01", "--to", "2025-02-03"], env=env)
    assert "candles from: history 2025-02-01 00:00 .. 2025-02-03 23:45 (288 bars)" in table.output
