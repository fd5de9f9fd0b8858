"""The local backend runs any command it is given, in this environment; the streams' specs
start the jobs' module entry points, never the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from streaming.supervisor.base import module_command
from streaming.supervisor.local import local_command
from tradestream_assets.streams.specs import candles_spec, signals_spec


def test_python_module_commands_run_with_this_interpreter():
    assert local_command(module_command("streaming.candles", "--mode", "stream")) == \
        [sys.executable, "-m", "streaming.candles", "--mode", "stream"]


def test_other_commands_run_as_given_or_as_this_environments_script():
    assert local_command(["/bin/sh", "-c", "exit 3"]) == ["/bin/sh", "-c", "exit 3"]
    assert local_command(["no-such-command-here", "x"]) == ["no-such-command-here", "x"]
    script = Path(sys.executable).parent / "pytest"
    assert local_command(["pytest", "-q"]) == [str(script), "-q"]


def test_the_beam_streams_start_their_jobs_module_entry_points(settings, tmp_path):
    assert candles_spec(settings).argv[:3] == ("python", "-m", "streaming.candles")
    assert signals_spec(settings, tmp_path / "live.yaml").argv[:3] == ("python", "-m", "streaming.signals")
