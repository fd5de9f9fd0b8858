"""`tradestream pipeline ...`: Beam pipelines on Flink."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

import typer

from tradestream.runtime.jars import RuntimeSetupError
from tradestream_cli._console import clean_errors, console, fail, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _check_master(value: str | None) -> str | None:
    if value is None or value in ("[local]", "[auto]"):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise typer.BadParameter(f"{value!r} must be '[local]' or HOST:PORT, e.g. localhost:8081")
    return value


@app.command()
def smoke(flink_master: str = typer.Option(None, "--flink-master", callback=_check_master,
                                           help="'[local]' (embedded mini-cluster, default) or HOST:PORT of a "
                                                "session cluster, e.g. localhost:8081.")) -> None:
    """Run a small word-count pipeline on the FlinkRunner and check its output."""
    from streaming.pipeline.smoke import EXPECTED, run_smoke

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
