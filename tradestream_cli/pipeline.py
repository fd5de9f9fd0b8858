"""`tradestream pipeline ...`: Beam pipelines on Flink."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

import typer

from tradestream.runtime.jars import RuntimeSetupError
from tradestream_cli._console import check_flink_master, clean_errors, console, fail, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command()
def smoke(flink_master: str = typer.Option(None, "--flink-master", callback=check_flink_master,
                                           help="'[local]' (embedded mini-cluster, default) or HOST:PORT of a "
                                                "session cluster, e.g. localhost:8081.")) -> None:
    """Run a small word-count pipeline on the FlinkRunner and check its output."""
    from streaming.jobs.smoke import EXPECTED, run_smoke

    settings = settings_or_exit()
    with clean_errors(RuntimeSetupError), tempfile.TemporaryDirectory() as tmp:
        result = run_smoke(settings, Path(tmp), flink_master)
    if not result.ok:
        raise fail(f"smoke pipeline on {result.flink_master} produced {result.counts}, expected {EXPECTED}")
    console.print(f"smoke pipeline on Flink {result.flink_master}: OK ({sum(result.counts.values())} words, "
                  f"{len(result.counts)} distinct) in {result.seconds:.1f} s")


# Pipelines of other areas add their commands to this group.
for _module in ("tradestream_cli.pipeline_candles", "tradestream_cli.pipeline_signals"):
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
