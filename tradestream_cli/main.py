"""Entry point of the `tradestream` console script.

Each area contributes a module with a `typer.Typer` named `app`: either a verb group
(`tradestream kafka start`) or top-level verbs (`tradestream backtest`). Modules are
imported only when one of their verbs runs, so `tradestream --help` and light verbs do
not pay for pandas-ta, numba, Beam or Dagster. `VERBS` is the table of contents; a test
keeps it equal to what the modules define.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

# verb -> (module, group?, one-line help shown by `tradestream --help`)
VERBS: dict[str, tuple[str, bool, str]] = {
    "setup": ("tradestream_cli.platform", False, "Fetch the JVM artifacts (Kafka, Beam's Flink job server, Flink)."),
    "up": ("tradestream_cli.platform", False, "Run the whole platform in the foreground (what `make run` calls)."),
    "kafka": ("tradestream_cli.runtime_kafka", True, "Local Apache Kafka (KRaft) brokers: start, stop, status."),
    "topics": ("tradestream_cli.topics", True, "Kafka topics of the platform."),
    "flink": ("tradestream_cli.runtime_flink", True, "Local Apache Flink session cluster: start, stop, status."),
    "pipeline": ("tradestream_cli.pipeline", True, "Beam pipelines on Flink: smoke, candles, signals."),
    "ingest": ("tradestream_cli.ingest", False, "Publish trades to Kafka: simulator, live exchange or file."),
    "strategies": ("tradestream_cli.strategies", True, "The strategy library: list and show the 60 strategies."),
    "backtest": ("tradestream_cli.backtest", False, "Backtest one strategy on candles from DuckDB or a file."),
    "optimize": ("tradestream_cli.backtest", False, "Optimize a strategy's parameters (GA, random or grid search)."),
    "walk-forward": ("tradestream_cli.backtest", False, "Walk-forward validation with deflated Sharpe."),
    "history": ("tradestream_cli.history", True, "Exchange history over REST into DuckDB: import, status."),
}


def load_verb(name: str) -> _click.Command:
    """Import the module behind ``name`` and return its click command."""
    module_name, is_group, _ = VERBS[name]
    module = importlib.import_module(module_name)
    command = typer.main.get_command(module.app)
    if is_group:
        if getattr(command, "commands", None) is None:  # a one-verb group still keeps its verb
            command = TyperGroup(name=name, commands=[command], help=VERBS[name][2], no_args_is_help=True)
        command.name = name
        return command
    commands = getattr(command, "commands", None)
    if commands is None:  # a module with a single verb collapses to that command
        return command
    return commands[name]


class LazyVerbs(TyperGroup):
    _listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in VERBS:
            return None
        if self._listing:
            help_text = VERBS[cmd_name][2]
            return TyperCommand(cmd_name, help=help_text, short_help=help_text)
        return load_verb(cmd_name)

    def format_help(self, ctx: _click.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="tradestream",
    cls=LazyVerbs,
    help="TradeStream: trades -> Kafka -> Beam/Flink candles and signals -> DuckDB, orchestrated by Dagster.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    app()
