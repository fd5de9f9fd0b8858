"""`tradestream kafka start|stop|status|credentials`."""

from __future__ import annotations

import shlex
import time

import typer
from rich.table import Table

from tradestream.runtime.jars import RuntimeSetupError
from tradestream.runtime.kafka import SECURITY_MODES, AlreadyRunning, KafkaRuntimeError, LocalKafka
from tradestream.runtime.procs import PortInUseError
from tradestream_cli._console import clean_errors, console, fail, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _secure_components(broker: LocalKafka) -> None:
    """Topics, one SCRAM user per component and its ACLs, as the admin (idempotent)."""
    from streaming.kafka.access import AccessError, apply_access, component_access
    from streaming.kafka.clients import KafkaClientConfig
    from streaming.kafka.topics import ensure_topics

    admin = broker.settings.model_copy(update={"kafka": broker.admin_settings()})
    principals = component_access(admin)
    with clean_errors(AccessError, KafkaRuntimeError):
        ensure_topics(admin)
        report = apply_access(KafkaClientConfig.from_settings(admin.kafka), principals.values(),
                              {c: broker.password(p.user) for c, p in principals.items()})
    table = Table("component", "user", "reads", "writes", title="Kafka users (SASL/SCRAM-SHA-512 over TLS)")
    for principal in principals.values():
        table.add_row(principal.component, principal.user, ", ".join(principal.topics("READ")) or "-",
                      ", ".join(principal.topics("WRITE")) or "-")
    console.print(table)
    console.print(f"{report.acls_added} ACLs added, {report.acls_present} already present. A process connects as a "
                  "component with the variables of `tradestream kafka credentials COMPONENT`.")


@app.command()
def start(brokers: int = typer.Option(1, "--brokers", help="1 (single node) or 3 (replicated KRaft quorum).",
                                      min=1, max=3),
          security: str = typer.Option(None, "--security", metavar="|".join(SECURITY_MODES),
                                       help="sasl_ssl: TLS with SASL/SCRAM-SHA-512 users and ACLs (certificates "
                                            "generated under <home>/kafka/tls); plaintext: no security. Default: "
                                            "what the cluster on disk has (plaintext for a new one). A plaintext "
                                            "cluster is secured in place.")) -> None:
    """Start a local Apache Kafka broker (KRaft, broker+controller) and wait until it answers."""
    if security is not None and security not in SECURITY_MODES:
        raise fail(f"--security {security!r} is not one of {', '.join(SECURITY_MODES)}")
    settings = settings_or_exit()
    broker = LocalKafka(settings)
    t0 = time.monotonic()
    with clean_errors(KafkaRuntimeError, RuntimeSetupError, PortInUseError):
        try:
            status = broker.start(brokers=brokers, security=security)  # type: ignore[arg-type]
        except AlreadyRunning as exc:
            console.print(f"Kafka is already running at {exc.status.bootstrap} "
                          f"(brokers {exc.status.broker_ids}, pids {sorted(exc.status.pids.values())}, "
                          f"{exc.status.security})")
            status = None
    if status is not None:
        console.print(f"Kafka {status.version} started at [bold]{status.bootstrap}[/] with brokers "
                      f"{status.broker_ids} ({status.security}) in {time.monotonic() - t0:.1f} s "
                      f"(data in {broker.root})")
    if broker.configured_security() == "sasl_ssl":
        _secure_components(broker)


@app.command()
def stop() -> None:
    """Stop the local brokers cleanly (SIGTERM, controlled shutdown)."""
    stopped = LocalKafka(settings_or_exit()).stop()
    console.print(f"stopped Kafka (pids {stopped})" if stopped else "Kafka is not running")


@app.command()
def status() -> None:
    """Broker ids, version, security and topics of the local (or configured) cluster."""
    settings = settings_or_exit()
    st = LocalKafka(settings).status()
    if not st.running:
        console.print(f"Kafka is [red]not reachable[/] at {st.bootstrap}" + (f" ({st.error})" if st.error else ""))
        raise typer.Exit(1)
    console.print(f"Kafka {st.version} at [bold]{st.bootstrap}[/] ({st.security}): brokers {st.broker_ids}, "
                  f"controller {st.controller_id}, local pids {sorted(st.pids.values())}")
    table = Table("topic", "partitions", "replication")
    for name, t in st.topics.items():
        table.add_row(name, str(t["partitions"]), str(t["replication"]))
    console.print(table)


@app.command()
def credentials(component: str = typer.Argument(..., help="ingestion, candles, signals, warehouse, executor, "
                                                          "kafka-ui or admin")) -> None:
    """Print the TRADESTREAM_KAFKA_* variables that connect a process to the secured local cluster as
    ``component`` (eval "$(tradestream kafka credentials candles)"). They include its password."""
    from streaming.kafka.access import COMPONENTS, user_name
    from tradestream.runtime.kafka import ADMIN_USER

    broker = LocalKafka(settings_or_exit())
    if broker.configured_security() != "sasl_ssl":
        raise fail(f"the local Kafka in {broker.root} is not secured; start it with --security sasl_ssl")
    if component not in (*COMPONENTS, "admin"):
        raise fail(f"{component!r} is not a component; use one of {', '.join((*COMPONENTS, 'admin'))}")
    user = ADMIN_USER if component == "admin" else user_name(component)
    for name, value in broker.client_env(user).items():
        print(f"export {name}={shlex.quote(value)}")
