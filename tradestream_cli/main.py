"""Entry point of the `tradestream` console script.

Each area contributes a module here with a `typer.Typer` named `app` (a verb group) or
plain command functions; this file only assembles them.
"""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="tradestream",
    help="TradeStream: trades -> Kafka -> Beam/Flink candles and signals -> DuckDB, orchestrated by Dagster.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# (module, group name or None for top-level commands, help)
_AREAS: list[tuple[str, str | None, str]] = [
    ("tradestream_cli.runtime_kafka", "kafka", "Local Apache Kafka (KRaft) brokers."),
    ("tradestream_cli.topics", "topics", "Kafka topics of the platform."),
    ("tradestream_cli.runtime_flink", "flink", "Local Apache Flink session cluster."),
    ("tradestream_cli.pipeline", "pipeline", "Beam pipelines on Flink."),
    ("tradestream_cli.ingest", None, "Market-data ingestion."),
    ("tradestream_cli.strategies", "strategies", "The strategy library."),
    ("tradestream_cli.backtest", None, "Backtests, optimization, walk-forward."),
    ("tradestream_cli.platform", None, "The whole platform."),
]


def _register() -> None:
    for module_name, group, help_text in _AREAS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # area not built yet
                continue
            raise
        sub = getattr(module, "app", None)
        if group and sub is not None:
            app.add_typer(sub, name=group, help=help_text)
        elif sub is not None:
            for command in sub.registered_commands:
                app.registered_commands.append(command)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


_register()

if __name__ == "__main__":
    app()
