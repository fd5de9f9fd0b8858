"""`tradestream setup`: provision everything the local runtime needs (run by `make setup`)."""

from __future__ import annotations

import time

import typer

from streaming.venues.registry import mode_help
from tradestream.runtime import jars
from tradestream.settings import IngestMode
from tradestream_cli._console import clean_errors, console, settings_or_exit

app = typer.Typer(add_completion=False)


@app.command()
def setup() -> None:
    """Fetch the JVM artifacts into the cache: Kafka broker, Beam's Flink job server, Flink distribution."""
    settings = settings_or_exit()
    t0 = time.monotonic()
    with clean_errors(jars.RuntimeSetupError):
        jars.provision_all(settings, progress=lambda line: console.print(line, markup=False, highlight=False))
    console.print(f"[setup] JVM artifacts ready in {settings.paths.cache_dir} ({time.monotonic() - t0:.1f} s)",
                  markup=False, highlight=False)


@app.command()
def up(
    host: str = typer.Option("127.0.0.1", help="Address of the Dagster UI."),
    port: int = typer.Option(3000, min=1, max=65535, help="Port of the Dagster UI."),
    mode: str = typer.Option(None, help=f"Ingestion mode of the trades stream: {mode_help()}. "
                                        "Default from settings (dry)."),
) -> None:
    """Run the platform on this machine: Kafka, topics, Dagster webserver and daemon (which start the streams).

    Ctrl-C stops every process this command started, streams included.
    """
    from tradestream_cli.up import run_platform

    if mode is not None and mode not in {m.value for m in IngestMode}:
        raise typer.BadParameter(f"--mode {mode!r} must be one of {', '.join(IngestMode)}")
    raise typer.Exit(run_platform(settings_or_exit(), host=host, port=port, mode=mode))
