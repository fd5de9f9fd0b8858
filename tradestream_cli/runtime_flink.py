"""`tradestream flink start|stop|status`."""

from __future__ import annotations

import time

import typer

from tradestream.runtime.flink import FlinkAlreadyRunning, FlinkRuntimeError, FlinkSession
from tradestream.runtime.jars import RuntimeSetupError
from tradestream.runtime.procs import PortInUseError
from tradestream_cli._console import clean_errors, console, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command()
def start() -> None:
    """Start a real Flink session cluster (JobManager + TaskManager), REST/UI on 127.0.0.1:8081."""
    session = FlinkSession(settings_or_exit())
    t0 = time.monotonic()
    with clean_errors(FlinkRuntimeError, RuntimeSetupError, PortInUseError):
        try:
            st = session.start()
        except FlinkAlreadyRunning as exc:
            console.print(f"Flink is already running at {exc.status.rest_url}")
            return
    console.print(f"Flink {st.version} session cluster up at [bold]{st.rest_url}[/] with {st.taskmanagers} "
                  f"TaskManager(s), {st.slots_total} slots, in {time.monotonic() - t0:.1f} s")


@app.command()
def stop() -> None:
    """Stop the session cluster."""
    stopped = FlinkSession(settings_or_exit()).stop()
    console.print(f"stopped Flink (pids {stopped})" if stopped else "Flink is not running")


@app.command()
def status() -> None:
    """Version, TaskManagers, slots and running jobs of the session cluster."""
    session = FlinkSession(settings_or_exit())
    st = session.status()
    if not st.running:
        console.print(f"Flink is [red]not reachable[/] at {st.rest_url}")
        raise typer.Exit(1)
    console.print(f"Flink {st.version} at [bold]{st.rest_url}[/]: {st.taskmanagers} TaskManager(s), "
                  f"{st.slots_available}/{st.slots_total} slots free, {st.jobs_running} job(s) running")
    for job in session.rest.jobs():
        console.print(f"  {job['jid']}  {job['state']:<10} {job['name']}")
