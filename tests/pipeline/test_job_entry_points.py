"""`python -m streaming.candles|signals` take the options of the CLI verbs, with the same meaning.

Both build their job with the job's ``from_options``; these tests keep the option names and
defaults of the three places (typer verb, argparse entry point, builder) in step.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import typer

from streaming.candles import __main__ as candles_main
from streaming.candles.job import CandleJobConfig, CandleOptionError
from streaming.signals import __main__ as signals_main
from streaming.signals.job import SignalJobConfig, SignalJobError
from tradestream_cli.pipeline_candles import candles
from tradestream_cli.pipeline_signals import signals

JOBS = [(candles, candles_main.parser, CandleJobConfig.from_options),
        (signals, signals_main.parser, SignalJobConfig.from_options)]


def _typer_options(verb) -> dict[str, tuple[str, object]]:
    """option -> (parameter name, default) of a typer verb."""
    command = typer.main.get_command_from_info(typer.models.CommandInfo(callback=verb),
                                               pretty_exceptions_short=True, rich_markup_mode=None)
    return {opt: (param.name, param.default) for param in command.params
            for opt in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize(("verb", "parser", "builder"), JOBS, ids=["candles", "signals"])
def test_the_entry_point_takes_every_option_of_the_cli_verb_into_the_same_builder(verb, parser, builder):
    cli = _typer_options(verb)
    module = {opt: action.dest for action in parser()._actions for opt in action.option_strings}
    defaults = {name: p.default for name, p in inspect.signature(builder).parameters.items()
                if p.kind is p.KEYWORD_ONLY}
    for option, (name, default) in cli.items():
        assert module.get(option) == name, f"{option}: the entry point does not pass it as {name!r}"
        assert defaults[name] == default, f"{option}: the CLI's default {default!r} is not the builder's"
    assert set(module) - set(cli) <= {"-h", "--help", "-v", "--verbose"}, "options the CLI verb lacks"


def test_the_candle_entry_point_builds_the_config_the_cli_would(settings):
    options = vars(candles_main.parser().parse_args(["--mode", "batch", "--from", "2024-05-01T13:00",
                                                     "--to", "1714572000", "--allowed-lateness-s", "7"]))
    config = CandleJobConfig.from_options(settings, **options)
    assert (config.mode, config.from_ns, config.to_ns, config.allowed_lateness_s) == \
        ("batch", 1714568400 * 10**9, 1714572000 * 10**9, 7)
    assert config.fill_forward_cap_s == settings.pipeline.fill_forward_cap_s  # not given: the settings'
    with pytest.raises(CandleOptionError, match="not a whole minute"):
        CandleJobConfig.from_options(settings, mode="batch", from_="2024-05-01T13:00:30")


def test_the_signal_entry_point_refuses_contradicting_start_options(settings):
    options = vars(signals_main.parser().parse_args(["--from-beginning", "--start", "committed"]))
    with pytest.raises(SignalJobError, match="--from-beginning contradicts --start committed"):
        SignalJobConfig.from_options(settings, **options)


def test_a_bad_option_fails_the_entry_point_with_its_value_named(settings):
    out = subprocess.run([sys.executable, "-m", "streaming.candles", "--mode", "batch", "--from", "yesterday"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "--from 'yesterday' is not a time" in out.stderr


def test_nothing_in_the_product_layers_imports_or_runs_the_cli():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [str(path.relative_to(root)) for package in ("streaming", "tradestream")
                 for path in (root / package).rglob("*.py") if "tradestream_cli" in path.read_text()]
    assert offenders == []
