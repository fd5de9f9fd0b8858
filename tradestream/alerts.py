"""Alerts to people: a stream down, lagging or stopped restarting, a check failed, an account halted.

Sent through Apprise (one library for Slack, Telegram, e-mail, Discord, Microsoft Teams,
ntfy, generic JSON/form webhooks and some hundred more), to the URLs of the ``[alerts]``
settings (``TRADESTREAM_ALERTS_URLS``, comma separated; they carry tokens, so on Kubernetes
they come from a Secret). Without URLs nothing is sent.

An alert has a ``key`` naming the condition (``stream_down:candles_stream``); while the
condition lasts it is repeated at most every ``repeat_after_s``, and when it clears a
resolved message goes out once. ``AlertBook`` keeps that memory as a plain dict, so Dagster
sensors carry it in their cursor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from tradestream.settings import AlertSettings

log = logging.getLogger(__name__)

Severity = Literal["warning", "failure", "resolved"]
KINDS: tuple[str, ...] = ("stream_down", "stream_lag", "restart_cap", "check_failed", "account_halted")


@dataclass(frozen=True)
class Alert:
    kind: str           # one of KINDS
    subject: str        # what it is about: a stream, a check, an account
    title: str
    body: str
    severity: Severity = "failure"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"


class AlertSender:
    """Sends alerts to the configured Apprise URLs; ``send`` says whether every service took it."""

    def __init__(self, settings: AlertSettings):
        import apprise

        self._apprise = apprise.Apprise()
        self.services = 0
        for url in settings.urls:
            if self._apprise.add(url.get_secret_value()):
                self.services += 1
            else:  # never log the URL: it holds the service's token
                log.error("alerts: a URL of TRADESTREAM_ALERTS_URLS is not one Apprise understands (scheme %r)",
                          url.get_secret_value().split("://", 1)[0])
        self.timeout_s = settings.timeout_s

    @property
    def enabled(self) -> bool:
        return self.services > 0

    def send(self, alert: Alert) -> bool:
        if not self.enabled:
            return False
        import apprise

        notify_type = {"warning": apprise.NotifyType.WARNING, "failure": apprise.NotifyType.FAILURE,
                       "resolved": apprise.NotifyType.SUCCESS}[alert.severity]
        ok = bool(self._apprise.notify(body=alert.body, title=alert.title, notify_type=notify_type,
                                       timeout=self.timeout_s))
        if not ok:
            log.warning("alerts: %s could not be delivered to every service", alert.key)
        return ok


class AlertBook:
    """Which conditions are active and when each was last sent: decides what to send now.

    ``memory`` is ``{key: last sent (epoch s)}``, JSON-ready for a sensor cursor."""

    def __init__(self, memory: Mapping[str, float] | None, repeat_after_s: float):
        self.memory = dict(memory or {})
        self.repeat_after_s = repeat_after_s

    def due(self, active: Iterable[Alert], subjects: Iterable[str], now: float | None = None) -> list[Alert]:
        """The alerts to send now: active conditions not sent within ``repeat_after_s``, and a
        resolved message for each condition of ``subjects`` that was active and no longer is.
        (Conditions of other subjects, watched by another sensor, are left alone.)"""
        now = time.time() if now is None else now
        active = list(active)
        out = []
        for alert in active:
            last = self.memory.get(alert.key)
            if last is None or now - last >= self.repeat_after_s:
                out.append(alert)
                self.memory[alert.key] = now
        current = {a.key for a in active}
        watched = set(subjects)
        for key in sorted(self.memory):
            kind, _, subject = key.partition(":")
            if key not in current and subject in watched:
                del self.memory[key]
                out.append(Alert(kind, subject, f"resolved: {kind.replace('_', ' ')} {subject}",
                                 f"{subject}: the {kind.replace('_', ' ')} condition has cleared.", "resolved"))
        return out


def send_due(sender: AlertSender, book: AlertBook, active: Iterable[Alert], subjects: Iterable[str],
             now: float | None = None) -> list[Alert]:
    """Send what ``book`` says is due; the alerts sent (all of them are recorded, delivered or not,
    so a dead chat service does not make every tick resend)."""
    if not sender.enabled:
        return []
    due = book.due(active, subjects, now)
    for alert in due:
        sender.send(alert)
    return due
