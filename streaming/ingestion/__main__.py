"""``python -m streaming.ingestion``: the ingestion process as the stream supervisor and the Helm chart
start it. People use ``tradestream ingest`` (more options, a summary table); both run the same code.

Only what a deployment chooses is an option here; every other setting comes from the environment
(``TRADESTREAM_INGEST_*``, ``TRADESTREAM_<VENUE>_*``) or the config file. Exit code 0 when every
trade taken in was acknowledged by Kafka, 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys

from streaming.ingestion.options import apply_options
from streaming.ingestion.service import run_ingestion
from streaming.kafka.topics import ensure_topics
from streaming.venues.registry import build_adapter, live_exchanges, mode_help
from tradestream.runtime.kafka import KafkaRuntimeError
from tradestream.settings import ConfigFileError, IngestMode, Settings

log = logging.getLogger("streaming.ingestion")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m streaming.ingestion",
        description="Ingest trades into Kafka, as the stream supervisor and the Helm chart run it "
                    "(people use `tradestream ingest`: more options, a summary table).",
        epilog="Every other setting comes from the environment (TRADESTREAM_INGEST_*, TRADESTREAM_<VENUE>_*) "
               "or the config file.")
    parser.add_argument("--mode", choices=[mode.value for mode in IngestMode],
                        help=f"{mode_help()}. Default from settings (dry).")
    parser.add_argument("--exchange", help=f"Wet mode: the live exchange ({', '.join(live_exchanges())}). "
                                           "Default from settings (coinbase).")
    parser.add_argument("--products", help="Currency pairs, comma separated. Default from settings.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = apply_options(Settings.load(), mode=args.mode, exchange=args.exchange, products=args.products)
        adapter = build_adapter(settings)
        ensure_topics(settings, topics=(settings.kafka.trades_topic, settings.kafka.dlq_topic))
        report = run_ingestion(settings, adapter=adapter)
    except (ValueError, OSError, ConfigFileError, KafkaRuntimeError) as exc:
        log.error("%s", exc)
        return 1
    if not report.clean:
        log.error("not clean: %s", report.error or f"{report.unacknowledged} record(s) unacknowledged, "
                  f"{report.counters.delivery_failed} delivery failure(s), {report.unpublished} trade(s) never sent")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
