"""`tradestream risk halt|resume|status`: the kill switch of the executor, and each account's risk state.

A halt or resume is a ``HaltCommand`` on Kafka `risk.commands` (compacted: it stays in force
across restarts); the running executor answers on `risk.events`, which these verbs wait for
and show. The Dagster job `kill_switch` writes the same command from the UI.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tradestream_cli._console import clean_errors, console, err_console, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)

AccountOption = Annotated[str | None, typer.Option("--account", "-a", help="The account (default: every account).")]
ReasonOption = Annotated[str, typer.Option(help="Why; recorded in the command and the risk event.")]
WaitOption = Annotated[float, typer.Option(help="Seconds to wait for the executor's answer (0: do not wait).")]


def _command(account: str | None, halt: bool, reason: str, wait: float) -> None:
    from streaming.execution.commands import CommandError, end_offsets, halt_command, send_halt, wait_for_outcome
    from streaming.kafka.clients import KafkaClientConfig
    from streaming.kafka.ranges import KafkaRangeError
    from tradestream.v1 import execution_pb2 as pb

    settings = settings_or_exit()
    k = settings.kafka
    kafka = KafkaClientConfig.from_settings(k)
    command = halt_command(account, halt=halt, reason=reason)
    scope = f"account {account}" if account else "every account"
    with clean_errors(CommandError, KafkaRangeError):
        since = end_offsets(kafka, k.risk_events_topic) if wait > 0 else {}
        send_halt(kafka, k.risk_commands_topic, command)
        console.print(f"{'halt' if halt else 'resume'} of {scope} written to [bold]{k.risk_commands_topic}[/] "
                      f"(command {command.command_id}); it stays in force across restarts")
        if wait <= 0:
            return
        answers = wait_for_outcome(kafka, k.risk_events_topic, command, since, timeout_s=wait)
    if not answers:
        err_console.print(f"no executor answered within {wait:g} s: it applies the command when it (re)starts")
        return
    table = Table("account", "event", "kill switch", "status", "detail", title="executor's answer",
                  title_justify="left")
    switch = {pb.RISK_EVENT_KIND_HALTED: "on", pb.RISK_EVENT_KIND_RESUMED: "off"}
    for event in answers:
        table.add_row(event.account or "-", pb.RiskEventKind.Name(event.kind).removeprefix("RISK_EVENT_KIND_"),
                      switch.get(event.kind, "-"), pb.AccountStatus.Name(event.status).removeprefix("ACCOUNT_STATUS_"),
                      event.detail)
    console.print(table)
    if any(e.kind == pb.RISK_EVENT_KIND_INPUT_REJECTED for e in answers):
        raise typer.Exit(1)


@app.command()
def halt(account: AccountOption = None, reason: ReasonOption = "kill switch", wait: WaitOption = 10.0) -> None:
    """Stop all new orders of an account (or every account) now; pending paper orders are cancelled."""
    _command(account, True, reason, wait)


@app.command()
def resume(account: AccountOption = None, reason: ReasonOption = "resumed by an operator",
           wait: WaitOption = 10.0) -> None:
    """Lift a halt (and a HALTED or REDUCING status): the account trades again from its current equity."""
    _command(account, False, reason, wait)


@app.command()
def status() -> None:
    """Each account's newest risk state from Kafka `execution.state`: status, halt, equity, drawdown."""
    from streaming.execution.commands import account_states
    from streaming.kafka.clients import KafkaClientConfig
    from streaming.kafka.ranges import KafkaRangeError
    from tradestream.v1 import execution_pb2 as pb

    settings = settings_or_exit()
    with clean_errors(KafkaRangeError):
        found = account_states(KafkaClientConfig.from_settings(settings.kafka), settings.kafka.account_states_topic)
    if not found.states:
        console.print(f"no account state on {settings.kafka.account_states_topic} yet (has the executor traded?)")
        return
    table = Table("account", "status", "halted", "equity", "start", "drawdown", "exposure", "open",
                  "as of (UTC)", title="accounts", title_justify="left")
    for name, state in sorted(found.states.items()):
        drawdown = 1 - state.equity / state.peak_equity if state.peak_equity > 0 else 0.0
        status_name = pb.AccountStatus.Name(state.status).removeprefix("ACCOUNT_STATUS_")
        if state.status_reason:
            status_name += f" ({pb.RiskReason.Name(state.status_reason).removeprefix('RISK_REASON_')})"
        table.add_row(name, status_name, "yes" if state.halted else "no", f"{state.equity:,.2f}",
                      f"{state.starting_cash:,.2f}", f"{drawdown:.2%}", f"{state.gross_exposure:,.2f}",
                      str(state.open_positions), state.as_of.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)
