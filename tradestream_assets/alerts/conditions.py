"""Which observations are alerts. Plain functions of what the sensors already know, so tests call
them directly; sending is ``tradestream.alerts``."""

from __future__ import annotations

from tradestream.alerts import Alert
from tradestream.v1 import execution_pb2 as pb

RESTART_CAP = "restart cap reached"


def stream_alerts(health, held_back: str | None) -> list[Alert]:
    """Alerts about one stream from the supervisor's probe (``StreamHealth``) and its restart decision:
    down (it ran and is not running), lagging (behind on its input, or its output is stale), and
    restarts given up (the cap)."""
    name = health.name
    alerts = []
    status = health.status
    if not status.alive and not health.never_started:
        why = status.detail or "not running"
        if status.exit_code is not None:
            why += f" (exit code {status.exit_code})"
        last = next((line.strip() for line in reversed(status.last_log_lines) if line.strip()), "")
        alerts.append(Alert("stream_down", name, f"stream down: {name}",
                            f"{name} is not running: {why}." + (f"\nLast log line: {last[:300]}" if last else "")
                            + (f"\nWhere: {status.location}" if status.location else "")))
    lagging = [p for p in health.problems if "behind on" in p or "old (limit" in p or p.startswith("nothing on")]
    if status.alive and lagging:
        alerts.append(Alert("stream_lag", name, f"stream lagging: {name}", f"{name}: " + "; ".join(lagging) + ".",
                            "warning"))
    if held_back and held_back.startswith(RESTART_CAP):
        alerts.append(Alert("restart_cap", name, f"stream restarts stopped: {name}", f"{name}: {held_back}."))
    return alerts


def check_alert(asset: str, check: str, description: str | None, details: str = "") -> Alert:
    """A failed asset check."""
    return Alert("check_failed", f"{asset}.{check}", f"check failed: {check} on {asset}",
                 f"The check {check} of {asset} failed" + (f": {description}" if description else ".")
                 + (f"\n{details}" if details else ""))


def halt_alert(event: pb.RiskEvent) -> Alert | None:
    """An account halted by the kill switch or a risk limit (None for any other risk event)."""
    halted = event.kind == pb.RISK_EVENT_KIND_HALTED or (
        event.kind == pb.RISK_EVENT_KIND_STATUS_CHANGED and event.status == pb.ACCOUNT_STATUS_HALTED)
    if not halted:
        return None
    account = event.account or "every account"
    reason = pb.RiskReason.Name(event.reason) if event.reason else "kill switch"
    detail = f" {event.detail}" if event.detail else ""
    return Alert("account_halted", account, f"account halted: {account}",
                 f"{account} is halted ({reason}).{detail} No orders go out until it is resumed "
                 "(tradestream risk resume).")
