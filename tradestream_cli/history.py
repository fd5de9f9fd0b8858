"""`tradestream history import` and `tradestream history status`: market history from a venue's REST API
into DuckDB (trades and the candles folded from them, or the venue's own bars), resumable."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streaming.venues.registry import history_exchanges
from tradestream_cli._console import clean_errors, console, fail, settings_or_exit

app = typer.Typer(help="Market history from an exchange's REST API into DuckDB: import, status.",
                  no_args_is_help=True)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"{option} {value!r} is not a date; use YYYY-MM-DD, e.g. 2025-01-01") from None


def _pairs(value: str) -> list[str]:
    from pydantic import ValidationError

    from tradestream.settings import IngestionSettings

    pairs = [p.strip() for p in value.split(",") if p.strip()]
    try:
        return IngestionSettings(products=pairs).products
    except ValidationError as exc:
        raise fail(f"--pairs {value!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


class _Bars:
    """Rich progress bars, one per pair: ids (trades) or days (bars) done, pages, trades, candles."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def start(self, pair: str, total: int, done: int, unit: str) -> None:
        self.tasks[pair] = self.progress.add_task(pair, total=total, completed=done, unit=unit, info="")

    def advance(self, pair: str, amount: int, report) -> None:
        self.progress.update(self.tasks[pair], advance=amount,
                             info=f"{report.pages} pages, {report.trades_fetched:,} trades, {report.candles:,} candles")

    def finish(self, pair: str, report) -> None:
        task = self.tasks.get(pair)
        if task is None:
            task = self.tasks[pair] = self.progress.add_task(pair, total=1, unit="", info="")
        state = "done" if report.ok else f"[red]stopped{' at ' + report.stopped_at if report.stopped_at else ''}[/]"
        total = self.progress.tasks[task].total
        self.progress.update(task, completed=total if report.ok else None, info=state)


@app.command("import")
def import_(
    pairs: Annotated[str, typer.Option("--pairs", help="Currency pairs, comma separated, e.g. BTC-USD,ETH-USD.")],
    from_: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last UTC day, included (today: up to the last whole minute).")],
    exchange: Annotated[str, typer.Option(help=f"Venue with a REST history: {', '.join(history_exchanges())}.")]
    = "coinbase",
    what: Annotated[str, typer.Option(help="trades: every trade, folded into candles of all timeframes; "
                                           "candles: only the venue's own bars (no trades, no vwap).")] = "trades",
    rest_url: Annotated[str | None, typer.Option(help="The venue's REST base URL (coinbase: "
                                                      "TRADESTREAM_COINBASE_REST_URL, default "
                                                      "https://api.exchange.coinbase.com).")] = None,
) -> None:
    """Import trades (or bars) of PAIRS for the UTC days FROM..TO into DuckDB; a re-run goes on where the last
    one stopped. Prints a progress bar per pair and a summary table; exits 1 if a pair could not be completed."""
    import asyncio
    import logging

    from pydantic import ValidationError

    from streaming.history.importer import HistoryImporter, ImportInputError
    from streaming.venues.registry import history_client, with_venue_options
    from tradestream.history.venue import HistoryError
    from tradestream.store import StoreLockedError

    if exchange not in history_exchanges():
        raise fail(f"--exchange {exchange!r} has no REST history; choose one of {', '.join(history_exchanges())}")
    if what not in ("trades", "candles"):
        raise fail(f"--what {what!r} must be trades or candles")
    first, last = _day(from_, "--from"), _day(to, "--to")
    pair_list = _pairs(pairs)
    settings = settings_or_exit()
    if rest_url is not None:
        try:
            settings = with_venue_options(settings, exchange, rest_url=rest_url)
        except ValidationError as exc:
            raise fail(f"--rest-url {rest_url!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    client = history_client(exchange, settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the progress bars
    with Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                  console=console, transient=False) as progress:
        importer = HistoryImporter(client, settings.duckdb_path, fill_cap_s=settings.pipeline.fill_forward_cap_s,
                                   timeframes=settings.pipeline.timeframes, progress=_Bars(progress))
        with clean_errors(ImportInputError, HistoryError, StoreLockedError):
            reports = asyncio.run(_run(importer, client, pair_list, first, last, what))
    _summary(reports, exchange, what, settings.duckdb_path, client.counts)
    failed = [r for r in reports if not r.ok]
    if failed:
        raise fail("; ".join(f"{r.pair}: {r.error}" for r in failed))


async def _run(importer, client, pairs, first, last, what):
    try:
        return await importer.run(pairs, first, last, what)
    finally:
        await client.aclose()


def _summary(reports, exchange: str, what: str, db_path, counts) -> None:
    table = Table(title=f"history import ({exchange}, {what}) -> {db_path}", title_justify="left")
    for column in ("pair", "days", "pages", "trades", "new", "duplicates", "candles", "gaps (ids)", "time",
                   "status"):
        table.add_column(column, justify="left" if column in ("pair", "status") else "right")
    for r in reports:
        days = f"{r.days_done + r.days_skipped}/{r.days}" + (f" ({r.days_skipped} held)" if r.days_skipped else "")
        status = "ok" if r.ok else f"[red]stopped{' at ' + r.stopped_at if r.stopped_at else ''}[/]"
        table.add_row(r.pair, days, f"{r.pages:,}", f"{r.trades_fetched:,}", f"{r.trades_new:,}",
                      f"{r.duplicates:,}", f"{r.candles:,}", f"{r.gaps} ({r.missing_ids})", f"{r.seconds:.1f} s",
                      status)
    console.print(table)
    console.print(f"requests: {counts.requests:,}; rate limited (429): {counts.rate_limited}; server errors (5xx): "
                  f"{counts.server_errors}; connection errors: {counts.transport_errors}; malformed pages: "
                  f"{counts.malformed}; waited {counts.waited_s:.1f} s for the rate limit and retries")


@app.command()
def status(
    pairs: Annotated[str | None, typer.Option(help="Only these pairs, comma separated.")] = None,
    gaps: Annotated[int, typer.Option(help="List at most this many trade-id gaps.")] = 20,
) -> None:
    """What DuckDB holds per pair: trades (by source) and candles per timeframe, first and last, imported days,
    trade ids missing at the venue."""
    from tradestream import store
    from tradestream.history import catalog

    settings = settings_or_exit()
    path = settings.duckdb_path
    if not path.exists():
        raise fail(f"DuckDB store {path} does not exist yet; import history first (tradestream history import ...)")
    pair_list = _pairs(pairs) if pairs else None
    with clean_errors(store.StoreLockedError), store.reader(path) as con:
        held = catalog.status(con, pair_list)
        listed = catalog.listed_gaps(con, pair_list, gaps) if store.has_table(con, "history_gaps") else None
    if held.empty:
        console.print(f"{path} holds no trades or candles" + (f" of {', '.join(pair_list)}" if pair_list else ""))
        return
    table = Table(title=f"history held in {path}", title_justify="left")
    for column in ("pair", "what", "first", "last", "rows", "sources", "days imported", "missing ids"):
        table.add_column(column, justify="right" if column in ("rows", "days imported", "missing ids") else "left")
    previous = None
    for row in held.itertuples(index=False):
        first_of_pair = row.currency_pair != previous
        previous = row.currency_pair
        table.add_row(row.currency_pair if first_of_pair else "", row.what, f"{row.first:%Y-%m-%d %H:%M}",
                      f"{row.last:%Y-%m-%d %H:%M}", f"{row.rows:,}", row.sources,
                      str(row.days) if first_of_pair else "", f"{row.missing_ids:,}" if first_of_pair else "")
    console.print(table)
    if listed is not None and not listed.empty:
        gap_table = Table(title="trade ids the venue did not return (asked twice)", title_justify="left")
        for column in ("exchange", "pair", "ids", "between"):
            gap_table.add_column(column)
        for g in listed.itertuples(index=False):
            ids = str(g.first_id) if g.first_id == g.last_id else f"{g.first_id}-{g.last_id}"
            gap_table.add_row(g.exchange, g.currency_pair, ids, f"{g.after_time} and {g.before_time}")
        console.print(gap_table)
