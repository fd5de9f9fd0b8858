"""The kill switch from the UI, and the hourly portfolio with its parity check.

``kill_switch`` (Jobs -> kill_switch -> Launchpad) writes the same ``HaltCommand`` to Kafka
`risk.commands` as ``tradestream risk halt|resume``: ``action: halt`` (or ``resume``), ``account``
empty for every account. The command is compacted on the topic, so it stays in force across
restarts of the executor; the run waits for the executor's answer on `risk.events` and logs it.
"""


import dagster as dg
from pydantic import Field

from streaming.execution.commands import CommandError, end_offsets, halt_command, send_halt, wait_for_outcome
from tradestream.v1 import execution_pb2 as pb
from tradestream_assets.execution.assets import portfolio
from tradestream_assets.resources import KafkaResource

ACTIONS = ("halt", "resume")


class KillSwitchConfig(dg.Config):
    action: str = Field("halt", description="halt: no new orders, entries or exits; resume: trade again.")
    account: str = Field("", description="The account; empty: every account.")
    reason: str = Field("kill switch from the Dagster UI", description="Recorded in the command and the risk event.")
    wait_s: float = Field(10.0, ge=0, le=300, description="Seconds to wait for the executor's answer.")


@dg.op(description="Write a halt or resume to Kafka `risk.commands` and wait for the executor's answer.")
def kill_switch_command(context: dg.OpExecutionContext, config: KillSwitchConfig, kafka: KafkaResource) -> dict:
    k = kafka.kafka_settings()
    client = kafka.client()
    if config.action not in ACTIONS:
        raise dg.Failure(description=f"action {config.action!r} must be one of {list(ACTIONS)}")
    halt = config.action == "halt"
    command = halt_command(config.account or None, halt=halt, reason=config.reason,
                           requested_by=f"dagster run {context.run_id[:8]}")
    scope = f"account {config.account}" if config.account else "every account"
    try:
        since = end_offsets(client, k.risk_events_topic) if config.wait_s > 0 else {}
        send_halt(client, k.risk_commands_topic, command)
    except CommandError as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(f"{config.action} of {scope} written to {k.risk_commands_topic} (command {command.command_id})")
    answers = wait_for_outcome(client, k.risk_events_topic, command, since, timeout_s=config.wait_s) \
        if config.wait_s > 0 else []
    for event in answers:
        context.log.info(f"executor: {pb.RiskEventKind.Name(event.kind)} {event.account}: {event.detail}")
    if not answers and config.wait_s > 0:
        context.log.warning(f"no executor answered within {config.wait_s:g} s: it applies the command when it "
                            "(re)starts")
    if any(e.kind == pb.RISK_EVENT_KIND_INPUT_REJECTED for e in answers):
        raise dg.Failure(description=f"the executor rejected the command: {answers[0].detail}")
    return {"command_id": command.command_id, "halt": halt, "account": config.account, "answers": len(answers)}


@dg.job(name="kill_switch", tags={"dagster/max_retries": "0"},
        description="Halt or resume trading of one account or all (the same as `tradestream risk halt|resume`); "
                    "durable across executor restarts. Launchpad: ops.kill_switch_command.config.action = halt | "
                    "resume, account = '' for every account.")
def kill_switch() -> None:
    kill_switch_command()


portfolio_job = dg.define_asset_job(
    "portfolio_job", selection=dg.AssetSelection.assets(portfolio),
    description="The portfolio of the last 24 hours and the execution_matches_backtest check.")


@dg.schedule(job=portfolio_job, cron_schedule="20 * * * *", execution_timezone="UTC", name="hourly_portfolio",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="At :20 every hour (after the warehouse hour of :10): the portfolio and the parity check.")
def hourly_portfolio(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    return dg.RunRequest(run_key=f"portfolio:{scheduled:%Y-%m-%d-%H:%M}" if scheduled else None)
