"""The history import runner: a venue's REST history -> DuckDB ``trades`` and ``candles``, resumable.

Venue-independent: it asks the venue's :class:`~tradestream.history.venue.HistoryClient`
(``streaming/venues/<venue>/history.py``, from the registry) for pages and writes what
it gets. Per pair, for the UTC days of the range that are not complete yet:

1. **Locate** the range by trade id. The venue has no time filter, but its ids are
   sequential and rise with time, so a binary search over ids with one-trade pages
   (``trade_at_or_before``) finds the first trade at or after ``from`` and the first at or
   after ``to`` in O(log n) requests each.
2. **Page backwards** from the newest id of the range with ``trades_before`` cursors,
   skipping ids an earlier run already fetched (``history_coverage``). The next page is asked
   for while the current one is processed (its cursor is guessed from the sequential ids; a
   wrong guess, after a gap, is dropped). Each page is
   checked: ids repeated from above the cursor or within the page are dropped
   (duplicates), a page out of id order is sorted (counted), ids that should be there
   and are not are asked for once more and then listed as gaps at the venue.
3. **Write** chunks of trades (``source = 'history'``) together with the id span they
   complete and the gaps found, in one DuckDB transaction (a writer thread, so the next
   pages are fetched meanwhile). A crash loses nothing written; a re-run fetches the rest.
4. **Fold** each UTC day once all its trades are held (the pages went past its start):
   the day's trades are read back from DuckDB, with the newest trade before the day as
   the carry (so its first minutes are filled as the stream fills them), folded with
   ``tradestream.candles.batch`` (the candle rules of the live stream, tested equal to the
   stream's state machines and the SQL reference) into every timeframe, and written with
   the day's ``history_days`` row in one transaction.

``what="candles"`` imports the venue's own bars instead, day by day per timeframe (those the
venue serves; 4h is rolled up from 1h), recorded in ``history_bar_days``.

A malformed page that stays malformed, or retries that run out, stop that pair with the
cursor it stopped at (the chunk in hand is written first); other pairs go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from tradestream import store
from tradestream.candles.batch import CANDLE_FIELDS, fold_batch
from tradestream.history import catalog
from tradestream.history.catalog import DayRow, GapRow, naive_to_ns, ns_to_naive
from tradestream.history.ids import IdSpan, missing_runs, subtract
from tradestream.history.venue import HistoryClient, HistoryError, TradePage, TradePoint
from tradestream.timeframes import MINUTE_NS, NS_PER_SECOND, TIMEFRAME_NS, TIMEFRAMES

log = logging.getLogger(__name__)

DAY_NS = 86_400 * NS_PER_SECOND
#: Trades held in memory before they are written (the writer thread takes one chunk while the next is fetched).
CHUNK_TRADES = 250_000
What = Literal["trades", "candles"]


class ImportInputError(ValueError):
    """The request itself is wrong (range, pairs, timeframes); nothing was fetched."""


@dataclass
class PairReport:
    """What the import did for one pair: the summary table's row."""

    pair: str
    days: int = 0                   # days of the range
    days_skipped: int = 0           # already complete before this run
    days_done: int = 0              # completed by this run
    pages: int = 0
    trades_fetched: int = 0         # trades the venue returned in the range (after dropping repeats)
    trades_new: int = 0             # of those, rows new to DuckDB
    duplicates: int = 0             # repeats dropped: within a page, across pages
    disordered_pages: int = 0       # pages whose ids were not newest first
    candles: int = 0                # candle rows written (new or changed)
    gaps: int = 0                   # runs of ids the venue did not have
    missing_ids: int = 0
    seconds: float = 0.0
    error: str | None = None
    stopped_at: str | None = None   # where a failed pair stopped, e.g. "after=123456"

    @property
    def ok(self) -> bool:
        return self.error is None


class ImportProgress(Protocol):
    """What a front end (rich bars in the CLI, Dagster logs) hears while pairs import."""

    def start(self, pair: str, total: int, done: int, unit: str) -> None: ...

    def advance(self, pair: str, amount: int, report: PairReport) -> None: ...

    def finish(self, pair: str, report: PairReport) -> None: ...


class _Silent:
    def start(self, pair: str, total: int, done: int, unit: str) -> None:
        pass

    def advance(self, pair: str, amount: int, report: PairReport) -> None:
        pass

    def finish(self, pair: str, report: PairReport) -> None:
        pass


def day_range(first: date, last: date) -> list[date]:
    if last < first:
        raise ImportInputError(f"the range from {first} to {last} is reversed: --from must not be after --to")
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def day_start_ns(day: date) -> int:
    return naive_to_ns(datetime.combine(day, datetime.min.time()))


@dataclass
class _Pending:
    """Fetched trades not yet written, with the id spans they complete and the gaps found."""

    pages: list[TradePage] = field(default_factory=list)
    covered: list[IdSpan] = field(default_factory=list)
    gaps: list[GapRow] = field(default_factory=list)
    trades: int = 0

    def add(self, page: TradePage, covered: IdSpan | None = None, gaps: Sequence[GapRow] = ()) -> None:
        self.pages.append(page)
        if covered is not None:
            self.covered.append(covered)
        self.gaps.extend(gaps)
        self.trades += len(page)

    def take(self) -> _Pending:
        out = _Pending(self.pages, self.covered, self.gaps, self.trades)
        self.pages, self.covered, self.gaps, self.trades = [], [], [], 0
        return out


class HistoryImporter:
    """Imports pairs of one venue into the DuckDB file at ``db_path``; pairs run concurrently and share
    the client (and so its rate limit); one writer thread keeps DuckDB writes serial."""

    def __init__(self, client: HistoryClient, db_path: str | Path, *, fill_cap_s: int,
                 timeframes: Sequence[str] = TIMEFRAMES, progress: ImportProgress | None = None,
                 chunk_trades: int = CHUNK_TRADES, now_ns: int | None = None,
                 lock_timeout_s: float = store.LOCK_TIMEOUT_S):
        self.client = client
        self.exchange = client.exchange
        self.db_path = Path(db_path)
        self.fill_cap_ns = fill_cap_s * NS_PER_SECOND
        self.timeframes = tuple(timeframes)
        unknown = [tf for tf in self.timeframes if tf not in TIMEFRAMES]
        if unknown or "1m" not in self.timeframes:
            raise ImportInputError(f"timeframes {list(self.timeframes)} must be among {list(TIMEFRAMES)} and "
                                   "include 1m")
        self.progress = progress or _Silent()
        self.chunk_trades = chunk_trades
        now = time.time_ns() if now_ns is None else now_ns
        self.now_ns = now - now % MINUTE_NS
        self.lock_timeout_s = lock_timeout_s
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-writer")
        self._ahead: dict[str, tuple[int, asyncio.Future]] = {}   # per pair: the next page, asked for early

    # ------------------------------------------------------------------ entry

    async def run(self, pairs: Sequence[str], first_day: date, last_day: date,
                  what: What = "trades") -> list[PairReport]:
        days = day_range(first_day, last_day)
        if day_start_ns(days[0]) >= self.now_ns:
            raise ImportInputError(f"the range from {first_day} to {last_day} lies in the future (now is "
                                   f"{ns_to_naive(self.now_ns):%Y-%m-%d %H:%M} UTC)")
        if not pairs:
            raise ImportInputError("no pairs given; name at least one, e.g. --pairs BTC-USD")
        if what not in ("trades", "candles"):
            raise ImportInputError(f"--what {what!r} must be trades or candles")
        days = [d for d in days if day_start_ns(d) < self.now_ns]
        try:
            return list(await asyncio.gather(*(self._pair(pair, days, what) for pair in dict.fromkeys(pairs))))
        finally:
            self._writer.shutdown(wait=True)

    async def _write(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    def _db(self):
        return store.writer(self.db_path, self.lock_timeout_s)

    async def _pair(self, pair: str, days: list[date], what: What) -> PairReport:
        report = PairReport(pair, days=len(days))
        started = time.monotonic()
        try:
            await self.client.check_product(pair)
            if what == "trades":
                await self._trades(pair, days, report)
            else:
                await self._bars(pair, days, report)
        except HistoryError as exc:
            report.error = str(exc)
            log.error("%s: %s", pair, exc)
        finally:
            report.seconds = time.monotonic() - started
            self.progress.finish(pair, report)
        return report

    # ------------------------------------------------------------------ trades

    def _day_end_ns(self, day: date) -> int:
        return min(day_start_ns(day) + DAY_NS, self.now_ns)

    async def _trades(self, pair: str, days: list[date], report: PairReport) -> None:
        held_days = await self._write(self._read_days, pair, days[0], days[-1])
        todo = [d for d in days if d not in held_days or naive_to_ns(held_days[d].covered_to) < self._day_end_ns(d)]
        report.days_skipped = len(days) - len(todo)
        if not todo:
            self.progress.start(pair, 1, 1, "ids")
            return
        from_ns, to_ns = day_start_ns(todo[0]), self._day_end_ns(todo[-1])
        newest = await self.client.newest_trade(pair)
        span, predecessor = await self._locate(pair, from_ns, to_ns, newest)
        held = await self._write(self._read_coverage, pair)
        spans = subtract(span, held) if len(span) else []
        self.progress.start(pair, max(len(span), 1), len(span) - sum(len(s) for s in spans), "ids")
        pending = _Pending()
        if predecessor is not None:  # the newest trade before the range: the first day's carry
            await self._write(self._write_chunk, pair,
                              _Pending([await self.client.trades_before(pair, predecessor.trade_id + 1, 1)]))
        unfolded = list(reversed(todo))   # newest first, as the pages come
        # Writes and folds queue on the one writer thread in order (a day is folded after the chunk holding
        # its last trades); the fetching goes on meanwhile, with at most two jobs outstanding.
        outstanding: deque[tuple[str, asyncio.Future]] = deque()
        cursor: int | None = None

        async def settle(keep: int) -> None:
            while len(outstanding) > keep:
                kind, job = outstanding.popleft()
                done = await job
                if kind == "chunk":
                    report.trades_new += done
                else:
                    report.candles += done
                    report.days_done += 1

        async def submit(kind: str, fn, *args) -> None:
            outstanding.append((kind, asyncio.ensure_future(self._write(fn, pair, *args))))
            await settle(2)

        async def flush() -> None:
            if pending.trades or pending.covered:
                await submit("chunk", self._write_chunk, pending.take())

        async def fold_through(lowest_ns: int | None) -> None:
            # days whose start lies above the oldest trade fetched so far are complete
            while unfolded and (lowest_ns is None or lowest_ns < day_start_ns(unfolded[0])):
                await flush()
                await submit("fold", self._fold_day, unfolded.pop(0))

        try:
            for todo_span in reversed(spans):
                cursor = todo_span.last + 1
                while cursor > todo_span.first:
                    page, cursor, lowest_ns = await self._next_page(pair, todo_span, cursor, report, pending)
                    if pending.trades >= self.chunk_trades:
                        await flush()
                    await fold_through(lowest_ns)
            await fold_through(None)
            await settle(0)
        except BaseException as exc:
            self._drop_ahead(pair)
            if isinstance(exc, HistoryError) and cursor is not None:
                report.stopped_at = f"after={cursor}"
                exc.args = (f"{exc.args[0]}; stopped {pair} at after={cursor} with everything fetched before it "
                            "written; run the import again to go on from there",)
            pending_writes = [job for kind, job in outstanding if kind == "chunk"]
            outstanding.clear()
            if pending.trades or pending.covered:
                pending_writes.append(asyncio.ensure_future(self._write(self._write_chunk, pair, pending.take())))
            for job in pending_writes:
                report.trades_new += await job
            raise

    async def _next_page(self, pair: str, span: IdSpan, cursor: int, report: PairReport,
                         pending: _Pending) -> tuple[TradePage, int, int]:
        """Fetch, check and queue the page below ``cursor``; returns it, the next cursor and the time of
        its oldest trade."""
        raw = await self._page(pair, cursor, span)
        report.pages += 1
        if not len(raw):
            raise _empty_page(pair, cursor, span)
        ids = raw.trade_id
        if len(ids) > 1 and (np.diff(ids) > 0).any():
            report.disordered_pages += 1   # ids must come newest first; sorted here
        order = np.argsort(-ids, kind="stable")
        ids = ids[order]
        first_copy = np.ones(len(ids), dtype=bool)
        first_copy[1:] = ids[1:] != ids[:-1]
        above = first_copy & (ids >= cursor)       # already fetched with a page above this one
        report.duplicates += int((~first_copy).sum() + above.sum())
        keep = first_copy & (ids < cursor)
        below = bool((ids < span.first).any())
        keep &= ids >= span.first
        page = raw.take(order[keep])
        if not len(page) and not below:
            raise _empty_page(pair, cursor, span)
        bottom = span.first if below else int(page.trade_id[-1])
        runs = missing_runs(page.trade_id, IdSpan(bottom, cursor - 1))
        gaps: list[GapRow] = []
        if runs:
            page, gaps = await self._confirm_gaps(pair, page, runs, report)
        report.trades_fetched += len(page)
        pending.add(page, IdSpan(bottom, cursor - 1), gaps)
        self.progress.advance(pair, cursor - bottom, report)
        lowest_ns = int(raw.event_ns[np.argmin(raw.trade_id)])
        return page, bottom, lowest_ns

    async def _page(self, pair: str, cursor: int, span: IdSpan) -> TradePage:
        """The page below ``cursor``, fetched while the one above was processed when its cursor was guessed
        right; and the guess for the next one sent on its way (ids are sequential: next = cursor - limit)."""
        limit = self.client.page_limit
        ahead = self._ahead.pop(pair, None)
        if ahead is not None and ahead[0] != cursor:
            ahead[1].cancel()   # a gap or a short page: the guess was wrong
            ahead = None
        job = ahead[1] if ahead is not None else asyncio.ensure_future(self.client.trades_before(pair, cursor, limit))
        guess = cursor - limit
        if guess > span.first:
            self._ahead[pair] = (guess, asyncio.ensure_future(self.client.trades_before(pair, guess, limit)))
        try:
            return await job
        except BaseException:
            self._drop_ahead(pair)
            raise

    def _drop_ahead(self, pair: str) -> None:
        ahead = self._ahead.pop(pair, None)
        if ahead is not None:
            ahead[1].cancel()
            ahead[1].add_done_callback(lambda job: job.cancelled() or job.exception())

    async def _confirm_gaps(self, pair: str, page: TradePage, runs: list[IdSpan],
                            report: PairReport) -> tuple[TradePage, list[GapRow]]:
        """Ask once more for ids a page lacked; what still does not come is a gap at the venue."""
        found = [page]
        for run in runs:
            again = await self.client.trades_before(pair, run.last + 1, min(len(run), self.client.page_limit))
            report.pages += 1
            inside = (again.trade_id >= run.first) & (again.trade_id <= run.last)
            found.append(again.take(np.flatnonzero(inside)))
        merged = TradePage.concat(found)
        order = np.argsort(-merged.trade_id, kind="stable")
        merged = merged.take(order)
        unique = np.ones(len(merged), dtype=bool)
        unique[1:] = merged.trade_id[1:] != merged.trade_id[:-1]
        merged = merged.take(np.flatnonzero(unique))
        gaps = []
        for run in runs:
            for gap in missing_runs(merged.trade_id, run):
                above = merged.trade_id > gap.last
                below = merged.trade_id < gap.first
                gaps.append(GapRow(gap.first, gap.last,
                                   int(merged.event_ns[below][0]) if below.any() else None,
                                   int(merged.event_ns[above][-1]) if above.any() else None))
                report.gaps += 1
                report.missing_ids += len(gap)
                log.warning("%s: ids %s are missing at the venue (asked twice)", pair, gap)
        return merged, gaps

    async def _locate(self, pair: str, from_ns: int, to_ns: int,
                      newest: TradePoint | None) -> tuple[IdSpan, TradePoint | None]:
        """The ids of the trades in [from_ns, to_ns), and the newest trade before ``from_ns``."""
        if newest is None:
            return IdSpan(1, 0), None
        first = await self._first_at_or_after(pair, from_ns, newest)
        if first is None:  # nothing since `from`: the range is empty, its carry the newest trade
            return IdSpan(newest.trade_id + 1, newest.trade_id), newest
        after_end = await self._first_at_or_after(pair, to_ns, newest, above=first - 1)
        last = newest.trade_id if after_end is None else after_end - 1
        predecessor = await self.client.trade_at_or_before(pair, first - 1) if first > 1 else None
        return IdSpan(first, max(last, first - 1)), predecessor

    async def _first_at_or_after(self, pair: str, at_ns: int, newest: TradePoint, above: int = 0) -> int | None:
        """The smallest id whose trade happened at or after ``at_ns`` (binary search over ids; every id up
        to ``above`` is known to be earlier)."""
        if newest.event_ns < at_ns:
            return None
        low, high = above, newest.trade_id  # ids <= low are before at_ns; high is a trade at or after it
        while high - low > 1:
            middle = (low + high) // 2
            point = await self.client.trade_at_or_before(pair, middle)
            if point is None or point.event_ns < at_ns:
                low = middle
            else:
                high = point.trade_id
        return high

    # ------------------------------------------------------------------ writer thread

    def _read_days(self, pair: str, first: date, last: date) -> dict[date, DayRow]:
        with self._db() as con:
            return catalog.days(con, self.exchange, pair, first, last)

    def _read_coverage(self, pair: str) -> list[IdSpan]:
        with self._db() as con:
            return catalog.coverage(con, self.exchange, pair)

    def _write_chunk(self, pair: str, chunk: _Pending) -> int:
        with self._db() as con:
            return catalog.write_trades(con, self.exchange, pair, TradePage.concat(chunk.pages), chunk.covered,
                                        chunk.gaps)

    def _fold_day(self, pair: str, day: date) -> int:
        start, end = day_start_ns(day), self._day_end_ns(day)
        with self._db() as con:
            trades = catalog.day_trades(con, self.exchange, pair, start, end)
            carry = catalog.carry_before(con, self.exchange, pair, start)
            folded = fold_batch(trades, timeframes=self.timeframes, from_ns=start, until_ns=end,
                                fill_cap_ns=self.fill_cap_ns, carry={pair: carry} if carry else None,
                                deduplicate=False)
            ids = trades.trade_id
            first_id = int(ids.min()) if len(ids) else None
            last_id = int(ids.max()) if len(ids) else None
            missing = (last_id - first_id + 1 - len(ids)) if len(ids) else 0
            row = DayRow(self.exchange, pair, day, ns_to_naive(end), first_id, last_id, len(ids), missing,
                         len(folded.candles))
            result = catalog.write_day(con, row, folded.candles)
        return result.rows_new + result.rows_updated

    # ------------------------------------------------------------------ the venue's own bars

    async def _bars(self, pair: str, days: list[date], report: PairReport) -> None:
        served = [tf for tf in self.timeframes if tf in self.client.candle_timeframes]
        rolled = [tf for tf in self.timeframes if tf not in served]
        sources = {tf: _roll_up_source(tf, served) for tf in rolled}
        fetch = sorted(set(served) | {s for s in sources.values() if s}, key=TIMEFRAME_NS.get)
        plan = []
        for tf in fetch:
            held = await self._write(self._read_bar_days, pair, tf, days[0], days[-1])
            plan.extend((tf, d) for d in days if d not in held or naive_to_ns(held[d]) < self._day_end_ns(d))
        report.days_skipped = len(days) - len({d for _, d in plan})
        self.progress.start(pair, max(len(plan), 1), 0 if plan else 1, "days")
        for tf, day in plan:
            bars = await self._day_bars(pair, tf, day, report)
            frames = [bars]
            for target, source in sources.items():
                if source == tf:
                    frames.append(_roll_up(bars, target))
            for target, frame in zip([tf, *(t for t, s in sources.items() if s == tf)], frames, strict=True):
                report.candles += await self._write(self._write_bars, pair, target, day, frame)
            report.days_done += 1
            self.progress.advance(pair, 1, report)

    async def _day_bars(self, pair: str, timeframe: str, day: date, report: PairReport) -> pd.DataFrame:
        step = TIMEFRAME_NS[timeframe]
        start, end = day_start_ns(day), self._day_end_ns(day)
        end -= end % step
        chunks = []
        span = self.client.max_bars_per_request * step
        for begin in range(start, end, span):
            bars = await self.client.bars(pair, timeframe, begin, min(begin + span, end))
            report.pages += 1
            chunks.append(bars)
        starts = np.concatenate([b.window_start_ns for b in chunks]) if chunks else np.zeros(0, np.int64)
        frame = pd.DataFrame({
            "currency_pair": pair, "timeframe": timeframe, "window_start_ns": starts, "window_end_ns": starts + step,
            **{c: np.concatenate([getattr(b, c) for b in chunks]) if chunks else np.zeros(0)
               for c in ("open", "high", "low", "close", "volume")}})
        return _venue_bars(frame.drop_duplicates("window_start_ns").sort_values("window_start_ns"))

    def _read_bar_days(self, pair: str, timeframe: str, first: date, last: date) -> dict[date, datetime]:
        with self._db() as con:
            return catalog.bar_days(con, self.exchange, pair, timeframe, first, last)

    def _write_bars(self, pair: str, timeframe: str, day: date, frame: pd.DataFrame) -> int:
        with self._db() as con:
            result = catalog.write_exchange_bars(con, self.exchange, pair, timeframe, day,
                                                 ns_to_naive(self._day_end_ns(day)), frame)
        return result.rows_new + result.rows_updated


def _empty_page(pair: str, cursor: int, span: IdSpan) -> HistoryError:
    from tradestream.history.venue import MalformedPage

    return MalformedPage(f"{pair}: the venue answered no trades below id {cursor} although ids down to "
                         f"{span.first} belong to the range")


def _venue_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Bars as the candle frame: the venue says neither vwap nor trade count nor whether a bar was filled."""
    frame = frame.reset_index(drop=True)
    frame["vwap"] = np.nan
    frame["trade_count"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame["filled"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    return frame[list(CANDLE_FIELDS)]


def _roll_up_source(timeframe: str, served: Sequence[str]) -> str | None:
    """The longest served timeframe that divides ``timeframe`` (4h from 1h)."""
    fits = [s for s in served if TIMEFRAME_NS[timeframe] % TIMEFRAME_NS[s] == 0]
    return max(fits, key=TIMEFRAME_NS.get) if fits else None


def _roll_up(bars: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Venue bars rolled up into a longer timeframe: first open, last close, max high, min low, summed volume."""
    if not len(bars):
        return bars
    step = TIMEFRAME_NS[timeframe]
    starts = bars["window_start_ns"] - bars["window_start_ns"] % step
    grouped = bars.assign(_w=starts).groupby("_w", sort=True).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"))
    frame = pd.DataFrame({"currency_pair": bars["currency_pair"].iat[0], "timeframe": timeframe,
                          "window_start_ns": grouped.index.to_numpy(np.int64),
                          "window_end_ns": grouped.index.to_numpy(np.int64) + step,
                          **{c: grouped[c].to_numpy() for c in ("open", "high", "low", "close", "volume")}})
    return _venue_bars(frame)
