"""`tradestream setup`: provision everything the local runtime needs (run by `make setup`)."""

from __future__ import annotations

import time

import typer

from tradestream.runtime import jars
from tradestream_cli._console import clean_errors, console, settings_or_exit

app = typer.Typer()


@app.command()
def setup() -> None:
    """Fetch the JVM artifacts into the cache: Kafka broker, Beam's Flink job server, Flink distribution."""
    settings = settings_or_exit()
    t0 = time.monotonic()
    with clean_errors(jars.RuntimeSetupError):
        jars.provision_all(settings, progress=lambda line: console.print(line, markup=False, highlight=False))
    console.print(f"[setup] JVM artifacts ready in {settings.paths.cache_dir} ({time.monotonic() - t0:.1f} s)",
                  markup=False, highlight=False)
