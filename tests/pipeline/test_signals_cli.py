"""`tradestream pipeline signals`: option errors and config errors, before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.pipeline.test_signals_fixtures import write_config
from tradestream_cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["pipeline", "signals", *args])


def plain(output: str) -> str:
    """The output without rich's boxes and line wrapping."""
    return " ".join(output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def test_the_signals_command_documents_the_options_the_stream_supervisor_uses():
    result = invoke("--help")
    assert result.exit_code == 0
    for option in ("--config", "--flink-master", "--start", "--from-beginning", "--fresh", "--parallelism", "--engine"):
        assert option in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "sideways"], "'sideways' is not one of latest, earliest, committed"),
    (["--from-beginning", "--start", "committed"], "--from-beginning contradicts --start committed"),
    (["--config", "/nowhere/live.yaml"], "/nowhere/live.yaml"),
    (["--flink-master", "localhost"], "must be '[local]' or HOST:PORT"),
    (["--parallelism", "0"], "'--parallelism': Input should be greater than or equal to 1"),
    (["--engine", "fast"], "engine 'fast' is not one of incremental, window"),
])
def test_bad_options_fail_with_a_message_naming_the_value(args, message):
    result = invoke(*args)
    assert result.exit_code != 0
    assert message in plain(result.output)


def test_a_config_without_any_usable_entry_is_refused_after_naming_each_bad_entry(tmp_path):
    config = write_config(tmp_path / "live.yaml", [], extra=[
        {"strategy": "NOT_A_STRATEGY", "params": {}},
        {"strategy": "SMA_RSI", "params": {"rsi_period": 99}},
    ])
    result = invoke("--config", str(config))
    text = plain(result.output)
    assert result.exit_code == 1
    assert "NOT_A_STRATEGY" in text
    assert "rsi_period=99" in text
    assert "has no usable entry" in text


def test_an_unparsable_config_is_refused_with_its_path(tmp_path):
    config = tmp_path / "live.yaml"
    config.write_text("strategies: [unclosed")
    result = invoke("--config", str(config))
    assert result.exit_code == 1
    assert str(config) in plain(result.output).replace(" ", "")
    assert "not valid yaml" in plain(result.output)
