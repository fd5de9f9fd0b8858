"""`tradestream strategies ...`: browse the strategy library."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from tradestream.strategies import UnknownStrategyError, get_strategy, list_strategies
from tradestream.strategies.spec import StrategySpec

app = typer.Typer(no_args_is_help=True, help="The strategy library: 60 declarative strategies.")
console = Console()


def _fmt(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _param_text(spec: StrategySpec) -> str:
    return escape(", ".join(f"{p.name} {p.type} [{_fmt(p.min)}, {_fmt(p.max)}] = {_fmt(p.default)}"
                            for p in spec.space))


def _bound(value: float, kind: str) -> float | int:
    return int(value) if kind == "int" else float(value)


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON (name, family, description, parameters)."),
) -> None:
    """Every strategy with its parameters (name, type, min, max, default)."""
    specs = list_strategies()
    if as_json:
        data = [{"name": s.name, "family": s.family, "description": s.description,
                 "parameters": [{"name": p.name, "type": p.type, "min": _bound(p.min, p.type),
                                 "max": _bound(p.max, p.type), "default": p.default} for p in s.space],
                 "constraints": [str(c) for c in s.space.constraints]} for s in specs]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{len(specs)} strategies", show_lines=False, expand=True)
    table.add_column("Strategy", style="bold cyan", no_wrap=True)
    table.add_column("Family", style="magenta", no_wrap=True)
    table.add_column(escape("Parameters: name type [min, max] = default"))
    for spec in specs:
        table.add_row(spec.name, spec.family, _param_text(spec))
    console.print(table)
    console.print("Details of one strategy: [bold]tradestream strategies show NAME[/bold]")


@app.command("show")
def show_command(name: str = typer.Argument(..., help="Strategy name (case-insensitive).")) -> None:
    """Rules, indicators and parameter space of one strategy."""
    try:
        spec = get_strategy(name)
    except UnknownStrategyError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from None
    defaults = spec.space.defaults()
    console.print(Panel(escape(spec.description), title=f"[bold]{spec.name}[/bold] ({spec.family})", expand=False))
    console.print(f"[green]entry[/green]  {escape(spec.entry_rule)}")
    console.print(f"[red]exit[/red]   {escape(spec.exit_rule)}")
    console.print("indicators: " + escape(", ".join(str(i) for i in spec.indicators)))
    params = Table(title="Parameters")
    for column in ("name", "type", "min", "max", "default", "description"):
        params.add_column(column)
    for p in spec.space:
        params.add_row(p.name, p.type, _fmt(p.min), _fmt(p.max), _fmt(p.default), escape(p.description))
    console.print(params)
    if spec.space.constraints:
        console.print("constraints: " + ", ".join(str(c) for c in spec.space.constraints))
    console.print(f"look-back with defaults: {spec.lookback(defaults)} bars; "
                  f"live window: {spec.window(defaults)} bars")
    console.print("Long-only: BUY when flat and the entry rule holds at a bar's close; "
                  "SELL when long and the exit rule holds.")
