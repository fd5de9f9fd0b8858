"""The Dagster UI in a real browser (Debian's chromium driven by Playwright) against the running platform.

Screenshots go to test-artifacts/ (the ``artifacts_dir`` fixture).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.e2e.conftest import BACKTEST_DAY
from tests.services import service_fixture
from tradestream import store

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@service_fixture
def page(platform) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1700, "height": 1050})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _open(page: Page, url: str) -> None:
    page.goto(url)
    # a first visit asks to join the community; it covers the page until dismissed
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=8000)
        skip.click()
    except Exception:  # noqa: BLE001 - the dialog does not always appear
        pass


def test_asset_graph_shows_lineage_from_trades_to_signals_and_from_optimization_to_live_config(
        platform, page, artifacts_dir):
    _open(page, f"{platform.url}/assets/signals?view=lineage&lineageScope=upstream&lineageDepth=10")
    for label in ("trades_stream", "candles_stream", "signals_stream", "trades", "candles"):
        page.get_by_text(label, exact=True).first.wait_for()
    # long names are shortened in the nodes ("stra…_optimization"): match their visible form
    for pattern in (r"^stra.*_optimization$", r"^walk_forwa.*_report$", r"^live_strat.*_config$"):
        page.get_by_text(re.compile(pattern)).first.wait_for()
    page.screenshot(path=str(artifacts_dir / "ui-lineage-upstream-of-signals.png"))
    # the same graph from the other side: what the optimization feeds, down to the signals table
    _open(page, f"{platform.url}/assets/strategy_optimization?view=lineage&lineageScope=downstream&lineageDepth=10")
    for label in ("signals_stream", "signals"):
        page.get_by_text(label, exact=True).first.wait_for()
    page.get_by_text(re.compile(r"^live_strat.*_config$")).first.wait_for()
    page.screenshot(path=str(artifacts_dir / "ui-lineage-downstream-of-optimization.png"))
    assert "trades_stream" not in page.locator("body").inner_text()  # downstream only: the streams' source is not


BACKTEST_CONFIG = f"""ops:
  run_backtest_op:
    config:
      strategy: MACD_CROSSOVER
      parameters:
        fast: 10
        slow: 24
      pairs: [BTC-USD]
      timeframe: 1m
      start: "{BACKTEST_DAY:%Y-%m-%d}T00:00"
      end: "{BACKTEST_DAY:%Y-%m-%d}T20:00"
      fees: 0.001
      slippage_bps: 2.0
"""


def test_a_backtest_launched_from_the_launchpad_succeeds_and_shows_metrics_and_equity_chart(
        platform, page, artifacts_dir):
    _open(page, f"{platform.url}/locations/tradestream/jobs/backtest/playground")
    editor = page.locator(".CodeMirror").first
    editor.wait_for()
    page.evaluate("(text) => document.querySelector('.CodeMirror').CodeMirror.setValue(text)", BACKTEST_CONFIG)
    page.screenshot(path=str(artifacts_dir / "ui-backtest-launchpad.png"))
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}.*"), timeout=60_000)
    run_url = page.url
    page.get_by_text("Success", exact=True).first.wait_for(timeout=300_000)
    page.screenshot(path=str(artifacts_dir / "ui-backtest-run.png"))

    # the asset page shows the run's metadata: the metrics table inline, the equity chart behind its link
    _open(page, f"{platform.url}/assets/backtest_results")
    metrics = page.locator("tr", has=page.get_by_text("metrics", exact=True))
    metrics.get_by_text("Sharpe").first.wait_for()
    assert "BTC-USD" in metrics.inner_text() and "max drawdown" in metrics.inner_text()
    page.screenshot(path=str(artifacts_dir / "ui-backtest-asset-metrics.png"), full_page=True)
    page.locator("tr", has=page.get_by_text("equity_curve", exact=True)).get_by_text("[Show Markdown]").click()
    chart = page.locator("img[src^='data:image/png;base64']").first
    chart.wait_for()
    assert chart.evaluate("(img) => img.naturalWidth") > 200  # decoded and drawn, not a broken image
    page.screenshot(path=str(artifacts_dir / "ui-backtest-equity-chart.png"))

    with store.reader(platform.duckdb) as con:
        stored = con.execute("SELECT strategy, currency_pair, number_of_trades FROM backtest_results "
                             "WHERE run_id LIKE ?", [run_url.split("/runs/")[1][:36] + "%"]).fetchall()
    assert [r[:2] for r in stored] == [("MACD_CROSSOVER", "BTC-USD")]
