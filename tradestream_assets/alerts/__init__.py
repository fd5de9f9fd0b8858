"""Alerts: what is worth waking someone for (``conditions``) and the sensors that send them
(``sensors``: failed checks, halted accounts; stream alerts go out from the stream supervisor)."""
