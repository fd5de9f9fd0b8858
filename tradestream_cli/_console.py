"""Shared console helpers: one rich console, one-line errors with a non-zero exit."""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def clean_errors(*kinds: type[BaseException]):
    """Turn expected runtime errors into a one-line message and exit code 1."""
    try:
        yield
    except kinds as exc:
        raise fail(str(exc)) from None


def settings_or_exit():
    from pydantic import ValidationError

    from tradestream.settings import ConfigFileError, Settings

    try:
        return Settings.load()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise fail(f"invalid setting {where}={first.get('input')!r}: {first['msg']}") from None
    except ConfigFileError as exc:
        raise fail(str(exc)) from None


def check_flink_master(value: str | None) -> str | None:
    """Typer callback of ``--flink-master``: '[local]', '[auto]' or HOST:PORT."""
    from streaming.jobs.entry import check_flink_master as check

    try:
        return check(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
