"""Who may do what on a secured cluster: one SCRAM user per component and the ACLs it needs.

Kafka's StandardAuthorizer denies everything no ACL allows. Each component gets exactly
the operations its code performs (``component_access``), by the topic and group names of
the settings:

| component  | reads                                   | writes                                   |
|------------|-----------------------------------------|------------------------------------------|
| ingestion  |                                         | trades, trades.dlq                       |
| candles    | trades                                  | candles, trades.dlq                      |
| signals    | candles                                 | signals, trades.dlq                      |
| warehouse  | every data topic, groups' offsets (lag) | risk.commands (halt/resume)              |
| executor   | signals, trades, risk.commands, state   | orders, fills, positions, risk.events, state (transactions) |
| kafka-ui   | every topic and group (read-only)       |                                          |

"reads" is READ and DESCRIBE on the topic, "writes" WRITE and DESCRIBE (an idempotent
producer needs nothing more since Kafka 3.0). A reading component also reads its own
consumer group and the throw-away groups of the bounded readers it uses
(``streaming.kafka.ranges.throwaway_group_prefix``). The admin user (a super user, like
the brokers' own) creates topics, users and these ACLs; nobody else may.

``apply_access`` creates or updates the users (SCRAM-SHA-512) and adds the ACLs through
the admin API; it is idempotent, so the Helm chart runs it after every install and
upgrade (``python -m streaming.kafka.access apply``) and ``tradestream kafka start
--security sasl_ssl`` after every start. ACLs another tool added are left alone.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import throwaway_group_prefix
from tradestream.settings import Settings

log = logging.getLogger(__name__)

USER_PREFIX = "tradestream-"
SCRAM_ITERATIONS = 8192
ResourceKind = Literal["topic", "group", "transactional_id", "cluster"]
_RESOURCE_TYPES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
                   "transactional_id": ResourceType.TRANSACTIONAL_ID, "cluster": ResourceType.BROKER}
READ = ("READ", "DESCRIBE")
WRITE = ("WRITE", "DESCRIBE")
#: The signal job's consumer group and the throw-away groups of its history seeding
#: (``streaming.signals``; a test keeps this prefix covering both).
SIGNALS_GROUP_PREFIX = "tradestream-signals"


class AccessError(RuntimeError):
    """Users or ACLs could not be applied; the message names the user or the ACL and the broker's answer."""


@dataclass(frozen=True, order=True)
class Grant:
    """Operations on one resource: a literal name, or every name starting with it (``prefixed``)."""

    resource: ResourceKind
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False

    def bindings(self, user: str) -> list[AclBinding]:
        pattern = ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL
        return [AclBinding(_RESOURCE_TYPES[self.resource], self.name, pattern, f"User:{user}", "*",
                           AclOperation[operation], AclPermissionType.ALLOW) for operation in self.operations]

    def allows(self, resource: ResourceKind, name: str, operation: str) -> bool:
        matches = name.startswith(self.name) if self.prefixed else self.name in ("*", name)
        return self.resource == resource and matches and operation in self.operations


@dataclass(frozen=True)
class Principal:
    """One component's Kafka user and everything it may do."""

    component: str
    purpose: str
    grants: tuple[Grant, ...]

    @property
    def user(self) -> str:
        return user_name(self.component)

    def allows(self, resource: ResourceKind, name: str, operation: str) -> bool:
        return any(grant.allows(resource, name, operation) for grant in self.grants)

    def topics(self, operation: str) -> list[str]:
        """The topics (literal grants) this principal may ``operation`` (READ or WRITE)."""
        return sorted(g.name for g in self.grants if g.resource == "topic" and not g.prefixed and
                      g.name != "*" and operation in g.operations)


def user_name(component: str) -> str:
    """The Kafka user of a component, e.g. ``tradestream-candles``."""
    return f"{USER_PREFIX}{component}"


def _reads(*topics: str) -> list[Grant]:
    return [Grant("topic", topic, READ) for topic in topics]


def _writes(*topics: str) -> list[Grant]:
    return [Grant("topic", topic, WRITE) for topic in topics]


def _groups(*names: str) -> list[Grant]:
    return [Grant("group", name, ("READ", "DESCRIBE")) for name in names]


def _throwaway(*purposes: str) -> list[Grant]:
    return [Grant("group", throwaway_group_prefix(purpose), ("READ", "DESCRIBE"), prefixed=True)
            for purpose in purposes]


def component_access(settings: Settings) -> dict[str, Principal]:
    """Every component's principal, by component name."""
    k = settings.kafka
    data_topics = (k.trades_topic, k.candles_topic, k.signals_topic, k.dlq_topic, k.orders_topic, k.fills_topic,
                   k.positions_topic, k.risk_events_topic, k.account_states_topic)
    principals = [
        Principal("ingestion", "publishes trades (bad input to the dead letters)",
                  (*_writes(k.trades_topic, k.dlq_topic),)),
        Principal("candles", "the candle job: trades in, candles out",
                  (*_reads(k.trades_topic), *_writes(k.candles_topic, k.dlq_topic),
                   *_groups(settings.pipeline.consumer_group), *_throwaway("probe"))),
        Principal("signals", "the signal job: candles in, signals out",
                  (*_reads(k.candles_topic), *_writes(k.signals_topic, k.dlq_topic),
                   Grant("group", SIGNALS_GROUP_PREFIX, ("READ", "DESCRIBE"), prefixed=True), *_throwaway("probe"))),
        Principal("warehouse", "Dagster: DuckDB partitions, stream probes (newest record, lag), halt commands",
                  (*_reads(*data_topics), *_writes(k.risk_commands_topic),
                   Grant("group", settings.pipeline.consumer_group, ("DESCRIBE",)),
                   Grant("group", SIGNALS_GROUP_PREFIX, ("DESCRIBE",)),
                   Grant("group", settings.execution.consumer_group, ("DESCRIBE",)),
                   *_throwaway("reader", "probe", "candle-reader"))),
        Principal("executor", "the execution stream: signals, trades and commands in; orders, fills, positions, "
                              "risk events and its state out, in transactions",
                  (*_reads(k.signals_topic, k.trades_topic, k.risk_commands_topic, k.account_states_topic,
                           k.execution_snapshots_topic),
                   *_writes(k.orders_topic, k.fills_topic, k.positions_topic, k.risk_events_topic,
                            k.account_states_topic, k.execution_snapshots_topic),
                   *_groups(settings.execution.consumer_group), *_throwaway("probe"),
                   # the executor's transactional id is its consumer group (streaming/execution/stream.py)
                   Grant("transactional_id", settings.execution.consumer_group, ("WRITE", "DESCRIBE"),
                         prefixed=True))),
        Principal("kafka-ui", "Kafka UI, read-only: topics, messages, groups, configuration",
                  (Grant("topic", "*", ("READ", "DESCRIBE", "DESCRIBE_CONFIGS")),
                   Grant("group", "*", ("DESCRIBE",)),
                   Grant("group", "kafka-ui-", ("READ", "DESCRIBE"), prefixed=True),
                   Grant("cluster", "kafka-cluster", ("DESCRIBE", "DESCRIBE_CONFIGS")))),
    ]
    return {p.component: p for p in principals}


COMPONENTS: tuple[str, ...] = ("ingestion", "candles", "signals", "warehouse", "executor", "kafka-ui")


# ------------------------------------------------------------------ applying it


@dataclass
class AccessReport:
    users: list[str]
    acls_added: int
    acls_present: int


def _wait(futures: Mapping, what: str) -> None:
    for key, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            raise AccessError(f"{what} {key}: {exc.args[0].str() if exc.args else exc}") from None


def _binding_key(binding: AclBinding) -> tuple:
    return (binding.restype, binding.name, binding.resource_pattern_type, binding.principal, binding.host,
            binding.operation, binding.permission_type)


def apply_access(admin_kafka: KafkaClientConfig, principals: Iterable[Principal],
                 passwords: Mapping[str, str]) -> AccessReport:
    """Create or update the SCRAM user of every principal (with ``passwords[component]``) and add its ACLs.

    ``admin_kafka`` must connect as a super user. A principal without a password keeps the
    password it has (its ACLs are still applied)."""
    principals = list(principals)
    admin = admin_kafka.admin({"socket.timeout.ms": 10000})
    upserts = [UserScramCredentialUpsertion(p.user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
                                            passwords[p.component].encode())
               for p in principals if passwords.get(p.component)]
    if upserts:
        _wait(admin.alter_user_scram_credentials(upserts, request_timeout=30), "creating the SCRAM user")
    present = set()
    for principal in principals:
        described = admin.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,
                                                         f"User:{principal.user}", None, AclOperation.ANY,
                                                         AclPermissionType.ANY), request_timeout=30)
        try:
            present |= {_binding_key(b) for b in described.result()}
        except KafkaException as exc:
            raise AccessError(f"reading the ACLs of {principal.user}: {exc.args[0].str() if exc.args else exc}; "
                              "the admin connection must be a super user of a cluster with an authorizer") from None
    wanted = {_binding_key(b): b for p in principals for g in p.grants for b in g.bindings(p.user)}
    missing = [b for key, b in wanted.items() if key not in present]
    if missing:
        _wait(admin.create_acls(missing, request_timeout=30), "adding the ACL")
    return AccessReport(users=[u.user for u in upserts], acls_added=len(missing),
                        acls_present=len(wanted) - len(missing))


def read_passwords(directory: Path, components: Sequence[str]) -> dict[str, str]:
    """Passwords mounted as files ``<directory>/<component>`` (the chart mounts one Secret key per file)."""
    out = {}
    for component in components:
        path = directory / component
        if path.is_file():
            out[component] = path.read_text().strip()
    return out


# ------------------------------------------------------------------ command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streaming.kafka.access``: what the chart's access Job runs (topics, users, ACLs)."""
    parser = argparse.ArgumentParser(
        prog="python -m streaming.kafka.access",
        description="Create the platform's topics and, on a secured cluster, one SCRAM user per component with "
                    "its ACLs. Connects with the TRADESTREAM_KAFKA_* settings (a super user). Idempotent.")
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="ensure topics, users and ACLs")
    apply.add_argument("--passwords-dir", type=Path, default=None,
                       help="one file per component holding its password (e.g. a mounted Secret); components "
                            "without a file keep their password")
    apply.add_argument("--no-acls", action="store_true", help="only topics (a cluster without authentication)")
    apply.add_argument("--wait-s", type=float, default=0.0,
                       help="wait this long for the cluster to answer before giving up (brokers still starting)")
    commands.add_parser("show", help="print every component's user and ACLs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.load()
    principals = component_access(settings)
    if args.command == "show":
        for principal in principals.values():
            print(f"{principal.user}: {principal.purpose}")
            for grant in principal.grants:
                kind = "prefixed " if grant.prefixed else ""
                print(f"  {grant.resource} {kind}{grant.name!r}: {', '.join(grant.operations)}")
        return 0
    from streaming.kafka.topics import ensure_topics, require_reachable
    from tradestream.runtime.kafka import KafkaRuntimeError

    deadline = time.monotonic() + args.wait_s
    while True:
        try:
            require_reachable(settings)
            break
        except KafkaRuntimeError as exc:
            if time.monotonic() >= deadline:
                log.error("%s", exc)
                return 1
            log.info("waiting for Kafka: %s", exc)
            time.sleep(min(10.0, max(0.5, deadline - time.monotonic())))
    try:
        for topic, state in ensure_topics(settings, reconcile=True).items():
            log.info("topic %s: %s", topic, state)
        if args.no_acls or not settings.kafka.security_protocol.startswith("SASL_"):
            log.info("no SASL on %s: users and ACLs skipped", settings.kafka.bootstrap)
            return 0
        passwords = read_passwords(args.passwords_dir, COMPONENTS) if args.passwords_dir else {}
        report = apply_access(KafkaClientConfig.from_settings(settings.kafka), principals.values(), passwords)
    except (AccessError, KafkaRuntimeError) as exc:
        log.error("%s", exc)
        return 1
    log.info("users %s updated; %d ACLs added, %d already present", report.users or "none", report.acls_added,
             report.acls_present)
    return 0


if __name__ == "__main__":
    sys.exit(main())
