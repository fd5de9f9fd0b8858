"""A real Apache Kafka broker (KRaft, combined broker+controller) run from Maven Central jars.

One node by default on 127.0.0.1:9092; ``start(brokers=3)`` forms a three-node KRaft
quorum (client ports port, port+10, port+20; controller ports controller_port+0/10/20)
for replication tests. State lives in ``<home>/kafka/node-<i>/``; each node's pid is in
``node-<i>/kafka.pid`` and its log in ``node-<i>/logs/server.log``.

``start(security="sasl_ssl")`` secures both listeners the way the Helm chart does: TLS
(certificates from ``tradestream.runtime.certificates`` in ``<home>/kafka/tls/``) with
SASL/SCRAM-SHA-512 for clients and between brokers, SASL/PLAIN for the KRaft controller
listener, and Kafka's StandardAuthorizer denying whatever no ACL allows. Why PLAIN on the
controller listener: controllers would have to check SCRAM credentials before a leader has
replayed the metadata log that holds them, so a quorum of several voters never forms
(tried with Kafka 4.1: every Vote fails authentication); PLAIN's one static user lives in
the controllers' own configuration, and TLS keeps its password off the wire. The
brokers' user and the admin (both super users) are written into the storage when it is
formatted; every other user and the ACLs are the access layer's business
(``streaming.kafka.access``). Passwords are generated once and kept in
``<home>/kafka/security/passwords.json`` (readable by the owner only).

A cluster formatted without security is secured in place by ``start(security="sasl_ssl")``:
its SCRAM users are created through the still open listener, then every node restarts
secured (the same steps as on Kubernetes, docs/kubernetes.md). Turning security off again
is refused.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion
from pydantic import SecretStr

from tradestream.runtime import jars, procs
from tradestream.runtime.certificates import TlsFiles, ensure_certificates
from tradestream.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)
# librdkafka reports every refused connection while a broker boots; keep those out of the console
_rdkafka_log = logging.getLogger("tradestream.rdkafka")
_rdkafka_log.addHandler(logging.NullHandler())
_rdkafka_log.propagate = False

PORT_STEP = 10
START_TIMEOUT_S = 90.0

Security = Literal["plaintext", "sasl_ssl"]
SECURITY_MODES: tuple[str, ...] = ("plaintext", "sasl_ssl")
#: The brokers' own SCRAM user (between brokers) and the super user that manages topics, users and
#: ACLs; both exist from the first start. The controller user lives in the controllers' configuration.
BROKER_USER = "kafka-broker"
CONTROLLER_USER = "controller"
ADMIN_USER = "tradestream-admin"
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="${sys:kafka.logs.dir}/server.log"
                 filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="20MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="INFO"/>
    <Logger name="org.apache.kafka" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


class KafkaRuntimeError(RuntimeError):
    """The local broker could not be started, reached or stopped. The message says what to do."""


@dataclass
class KafkaStatus:
    running: bool
    bootstrap: str
    version: str
    pids: dict[int, int] = field(default_factory=dict)   # node id -> pid
    broker_ids: list[int] = field(default_factory=list)  # as reported by the cluster
    controller_id: int | None = None
    topics: dict[str, dict] = field(default_factory=dict)  # name -> {partitions, replication}
    error: str | None = None
    security: str = "plaintext"


class LocalKafka:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.k = settings.kafka
        self.root = settings.paths.home / "kafka"

    # -------------------------------------------------------------- layout

    def node_dir(self, node: int) -> Path:
        return self.root / f"node-{node}"

    def client_port(self, node: int) -> int:
        return self.k.port + PORT_STEP * node

    def controller_port(self, node: int) -> int:
        return self.k.controller_port + PORT_STEP * node

    def _pid_file(self, node: int) -> Path:
        return self.node_dir(node) / "kafka.pid"

    def _nodes_file(self) -> Path:
        return self.root / "cluster.json"

    def _cluster_meta(self) -> dict[str, Any]:
        try:
            return json.loads(self._nodes_file().read_text())
        except (OSError, ValueError):
            return {}

    def configured_nodes(self) -> int:
        try:
            return int(self._cluster_meta()["brokers"])
        except (KeyError, ValueError):
            return 0

    def configured_security(self) -> Security | None:
        """How the cluster on disk is secured (None: never formatted here)."""
        meta = self._cluster_meta()
        return meta.get("security", "plaintext") if meta else None

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(self.root / "tls")

    def _passwords_file(self) -> Path:
        return self.root / "security" / "passwords.json"

    def password(self, user: str) -> str:
        """The local password of ``user``, generated (and kept) on first use."""
        path = self._passwords_file()
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        if user not in known:
            known[user] = secrets.token_hex(20)  # hex: nothing to quote in a JAAS line
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".passwords.json.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(known, out, indent=1, sort_keys=True)
            tmp.replace(path)
        return known[user]

    def client_settings(self, user: str) -> KafkaSettings:
        """The settings a client of the local cluster connecting as ``user`` runs with (bootstrap,
        SASL_SSL, SCRAM credentials, the CA); on a plaintext cluster just its bootstrap address."""
        base = {**self.k.model_dump(), "bootstrap_servers": self.bootstrap()}
        if self.configured_security() != "sasl_ssl":
            return KafkaSettings(**base)
        return KafkaSettings(**{**base, "security_protocol": "SASL_SSL", "sasl_mechanism": SCRAM_MECHANISM,
                                "sasl_username": user, "sasl_password": SecretStr(self.password(user)),
                                "ssl_ca_location": self.tls.ca})

    def admin_settings(self) -> KafkaSettings:
        """``client_settings`` of the super user (topics, users, ACLs)."""
        return self.client_settings(ADMIN_USER)

    def client_env(self, user: str) -> dict[str, str]:
        """``client_settings(user)`` as the TRADESTREAM_KAFKA_* variables of a child process."""
        k = self.client_settings(user)
        env = {"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": k.bootstrap, "TRADESTREAM_KAFKA_SECURITY_PROTOCOL":
               k.security_protocol}
        if k.sasl_mechanism:
            env.update({"TRADESTREAM_KAFKA_SASL_MECHANISM": k.sasl_mechanism,
                        "TRADESTREAM_KAFKA_SASL_USERNAME": k.sasl_username or "",
                        "TRADESTREAM_KAFKA_SASL_PASSWORD": k.sasl_password.get_secret_value() if k.sasl_password
                        else ""})
        if k.ssl_ca_location is not None:
            env["TRADESTREAM_KAFKA_SSL_CA_LOCATION"] = str(k.ssl_ca_location)
        return env

    def _admin_client(self, brokers: int | None = None, security: Security | None = None,
                      timeout_ms: int = 2000) -> AdminClient:
        # The one place that builds a Kafka client without streaming.kafka.clients: the local runtime asks
        # the listeners it configured itself, and tradestream/ does not import streaming/.
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap(brokers), "socket.timeout.ms": timeout_ms,
                                  "logger": _rdkafka_log}
        if (security or self.configured_security()) == "sasl_ssl":
            config.update({"security.protocol": "SASL_SSL", "sasl.mechanism": SCRAM_MECHANISM,
                           "sasl.username": ADMIN_USER, "sasl.password": self.password(ADMIN_USER),
                           "ssl.ca.location": str(self.tls.ca)})
        return AdminClient(config)

    def bootstrap(self, brokers: int | None = None) -> str:
        n = brokers or max(self.configured_nodes(), 1)
        return ",".join(f"{self.k.host}:{self.client_port(i)}" for i in range(n))

    def pids(self) -> dict[int, int]:
        out = {}
        for node in range(max(self.configured_nodes(), 1)):
            pid = procs.read_pid(self._pid_file(node))
            if pid:
                out[node] = pid
        return out

    @property
    def running(self) -> bool:
        return bool(self.pids())

    # -------------------------------------------------------------- start

    def start(self, brokers: int = 1, timeout: float = START_TIMEOUT_S,
              security: Security | None = None) -> KafkaStatus:
        """Start the local cluster and return once it answers metadata requests.

        ``security``: "plaintext" or "sasl_ssl"; None keeps what the cluster on disk has (plaintext
        for a new one). A plaintext cluster asked for "sasl_ssl" is secured in place.

        Raises KafkaRuntimeError when it is already running with another size or security, a port is
        taken, Java or the jars are missing, or a node fails to come up; in that case every
        node started here is stopped again (nothing is left half-started).
        """
        if brokers not in (1, 3):
            raise KafkaRuntimeError(f"--brokers {brokers} is not supported; use 1 or 3")
        configured = self.configured_security()
        if security is not None and security not in SECURITY_MODES:
            raise KafkaRuntimeError(f"--security {security!r} is not one of {', '.join(SECURITY_MODES)}")
        wanted: Security = security or configured or "plaintext"
        if configured == "sasl_ssl" and wanted == "plaintext":
            raise KafkaRuntimeError(f"the local Kafka in {self.root} is secured (sasl_ssl); turning security off is "
                                    f"not supported: `tradestream kafka stop` and delete {self.root} to start over "
                                    "without it")
        running = self.pids()
        if running:
            existing = self.configured_nodes()
            if existing != brokers:
                raise KafkaRuntimeError(
                    f"a {existing}-broker local Kafka is already running (pids {sorted(running.values())}); "
                    f"`tradestream kafka stop` first to start {brokers}")
            status = self.status()
            if configured != wanted:
                if status.running and len(running) == brokers:
                    self._secure_in_place(brokers, timeout)
                    return self.status()
                raise KafkaRuntimeError(f"the local Kafka runs {configured} with nodes missing; "
                                        f"`tradestream kafka stop` first, then start it with --security {wanted}")
            if status.running and len(running) == brokers:
                raise AlreadyRunning(status)
            # some nodes died: restart the missing ones below
        elif configured == "plaintext" and wanted == "sasl_ssl" and self.configured_nodes() == brokers:
            self._start_nodes(brokers, timeout, "plaintext")
            self._secure_in_place(brokers, timeout)
            return self.status()
        self._start_nodes(brokers, timeout, wanted, running=running)
        return self.status()

    def _start_nodes(self, brokers: int, timeout: float, security: Security,
                     running: dict[int, int] | None = None) -> None:
        running = running or {}
        java = jars.require_java17()
        try:
            classpath = jars.kafka_classpath(self.settings)
        except jars.RuntimeSetupError as exc:
            raise KafkaRuntimeError(str(exc)) from exc
        for node in range(brokers):
            if node in running:
                continue
            procs.require_free(self.client_port(node), f"Kafka broker {node}",
                               "TRADESTREAM_KAFKA_PORT", self.k.host)
            procs.require_free(self.controller_port(node), f"Kafka controller {node}",
                               "TRADESTREAM_KAFKA_CONTROLLER_PORT", self.k.host)

        self.root.mkdir(parents=True, exist_ok=True)
        cluster_id = self._cluster_id(java, classpath, brokers, security)
        if security == "sasl_ssl":
            ensure_certificates(self.tls.directory, [self.k.host, "localhost"])
        started: list[int] = []
        try:
            for node in range(brokers):
                if node in running:
                    continue
                props = self._write_config(node, brokers, security)
                self._format(java, classpath, node, brokers, cluster_id, props, security)
                self._launch(java, classpath, node, props)
                started.append(node)
            self._await_ready(brokers, timeout, security)
        except BaseException:
            for node in started:
                pid = procs.read_pid(self._pid_file(node))
                if pid:
                    procs.terminate(pid, timeout=15)
            raise

    def _secure_in_place(self, brokers: int, timeout: float) -> None:
        """Secure a running plaintext cluster: create the brokers' and the admin's SCRAM users through
        the open listener (no authorizer checks them yet), then restart every node with SASL_SSL."""
        admin = self._admin_client(brokers, "plaintext", timeout_ms=5000)
        users = [UserScramCredentialUpsertion(user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512,
                                                                        SCRAM_ITERATIONS),
                                              self.password(user).encode())
                 for user in (BROKER_USER, ADMIN_USER)]
        for user, future in admin.alter_user_scram_credentials(users).items():
            try:
                future.result()
            except KafkaException as exc:
                raise KafkaRuntimeError(f"creating the SCRAM user {user} on the running cluster failed: {exc}") \
                    from None
        log.info("securing the local Kafka: SCRAM users %s created; restarting every node with SASL_SSL",
                 [BROKER_USER, ADMIN_USER])
        self.stop()
        meta = self._cluster_meta()
        meta["security"] = "sasl_ssl"
        self._nodes_file().write_text(json.dumps(meta))
        self._start_nodes(brokers, timeout, "sasl_ssl")

    def _cluster_id(self, java: str, classpath: str, brokers: int, security: Security) -> str:
        meta = self._nodes_file()
        if meta.exists():
            data = json.loads(meta.read_text())
            if int(data.get("brokers", 0)) == brokers:
                return data["cluster_id"]
            # different size: start from scratch, old data is for another quorum
            for node in range(int(data.get("brokers", 0))):
                _rmtree(self.node_dir(node))
        out = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
                             capture_output=True, text=True, check=False)
        cluster_id = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else ""
        if not cluster_id:
            cluster_id = _kafka_uuid()
        meta.write_text(json.dumps({"brokers": brokers, "cluster_id": cluster_id, "security": security}))
        return cluster_id

    def _write_config(self, node: int, brokers: int, security: Security = "plaintext") -> Path:
        d = self.node_dir(node)
        (d / "data").mkdir(parents=True, exist_ok=True)
        (d / "logs").mkdir(parents=True, exist_ok=True)
        host = self.k.host
        rf = min(brokers, 3)
        lines = {
            "process.roles": "broker,controller",
            "node.id": node,
            "listeners": f"BROKER://{host}:{self.client_port(node)},CONTROLLER://{host}:{self.controller_port(node)}",
            "advertised.listeners": f"BROKER://{host}:{self.client_port(node)}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "BROKER",
            "listener.security.protocol.map": "BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": d / "data",
            "num.partitions": self.k.topic_partitions,
            "default.replication.factor": rf,
            "min.insync.replicas": 2 if brokers >= 3 else 1,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": 2 if brokers >= 3 else 1,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": 2 if brokers >= 3 else 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "log.retention.hours": self.k.retention_hours,
            "log.segment.bytes": 64 * 1024 * 1024,
        }
        if security == "sasl_ssl":
            lines.update(self._security_properties())
        if brokers == 1:
            lines["controller.quorum.bootstrap.servers"] = f"{host}:{self.controller_port(0)}"
        else:
            lines["controller.quorum.voters"] = ",".join(
                f"{i}@{host}:{self.controller_port(i)}" for i in range(brokers))
        props = d / "server.properties"
        # with security the file holds the brokers' passwords: the owner's only, from the start
        tmp = props.with_name(".server.properties.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in lines.items()))
        tmp.replace(props)
        (self.root / "log4j2.xml").write_text(LOG4J2_XML)
        return props

    def _security_properties(self) -> dict[str, str]:
        """SASL_SSL on both listeners (SCRAM for clients and brokers, PLAIN for controllers), TLS from the
        local CA, StandardAuthorizer with the brokers', the controllers' and the admin user as super users."""
        controller_password = self.password(CONTROLLER_USER)
        return {
            "listener.security.protocol.map": "BROKER:SASL_SSL,CONTROLLER:SASL_SSL",
            "listener.name.broker.sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.broker.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{BROKER_USER}" password="{self.password(BROKER_USER)}";',
            "listener.name.controller.plain.sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{CONTROLLER_USER}" password="{controller_password}" '
                f'user_{CONTROLLER_USER}="{controller_password}";',
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.server_pem),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{BROKER_USER};User:{CONTROLLER_USER};User:{ADMIN_USER}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _format(self, java: str, classpath: str, node: int, brokers: int, cluster_id: str, props: Path,
                security: Security = "plaintext") -> None:
        if (self.node_dir(node) / "data" / "meta.properties").exists():
            return
        cmd = [java, "-cp", classpath, f"-Dlog4j2.configurationFile={self.root / 'log4j2.xml'}",
               f"-Dkafka.logs.dir={self.node_dir(node) / 'logs'}",
               "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted"]
        if brokers == 1:
            cmd.append("--standalone")
        if security == "sasl_ssl":
            # the users that must exist before any broker can talk to another or anything can be configured
            for user in (BROKER_USER, ADMIN_USER):
                cmd += ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={self.password(user)}]"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            detail = (out.stderr or out.stdout).strip()[-500:]
            for user in (BROKER_USER, ADMIN_USER):
                detail = detail.replace(self.password(user), "***")
            raise KafkaRuntimeError(f"formatting Kafka storage of node {node} failed: {detail}")

    def _launch(self, java: str, classpath: str, node: int, props: Path) -> None:
        d = self.node_dir(node)
        cmd = [java, f"-Xmx{self.k.heap}", f"-Xms{self.k.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={self.root / 'log4j2.xml'}", f"-Dkafka.logs.dir={d / 'logs'}",
               "-cp", classpath, "kafka.Kafka", str(props)]
        with open(d / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=d, **procs.detach_kwargs())
        self._pid_file(node).write_text(str(proc.pid))
        log.info("started Kafka node %d (pid %d) on %s:%d", node, proc.pid, self.k.host, self.client_port(node))

    def _await_ready(self, brokers: int, timeout: float, security: Security = "plaintext") -> None:
        deadline = time.monotonic() + timeout
        admin = None
        last_error = "no answer"
        while time.monotonic() < deadline:
            dead = [n for n in range(brokers) if not procs.read_pid(self._pid_file(n))]
            if dead:
                logs = self.node_dir(dead[0]) / "logs"
                last = procs.tail(logs / "server.log") or procs.tail(logs / "stdout.log")
                raise KafkaRuntimeError(f"Kafka node {dead[0]} exited during start-up; last lines of {logs}:\n{last}")
            if not all(procs.port_open(self.client_port(n), self.k.host) for n in range(brokers)):
                time.sleep(0.3)
                continue
            admin = admin or self._admin_client(brokers, security)
            try:
                md = admin.list_topics(timeout=2)
                if len(md.brokers) >= brokers:
                    return
                last_error = f"{len(md.brokers)} of {brokers} brokers registered"
            except KafkaException as exc:
                last_error = str(exc)
            time.sleep(0.5)
        raise KafkaRuntimeError(f"Kafka did not answer metadata requests within {timeout:.0f} s ({last_error}); "
                                f"see {self.root}/node-*/logs/server.log")

    # -------------------------------------------------------------- stop / status

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Stop every running node (controlled shutdown). Returns the pids that were stopped."""
        stopped = []
        pids = self.pids()
        # brokers first, the node holding the controller last, so shutdown stays controlled
        for node in sorted(pids, reverse=True):
            procs.terminate(pids[node], timeout=timeout)
            self._pid_file(node).unlink(missing_ok=True)
            stopped.append(pids[node])
        return stopped

    def status(self, timeout: float = 5.0) -> KafkaStatus:
        """The local cluster as its admin sees it; with ``bootstrap_servers`` set, that cluster with the
        settings' own credentials."""
        pids = self.pids()
        bootstrap = self.k.bootstrap_servers or self.bootstrap()
        security = "external" if self.k.bootstrap_servers else (self.configured_security() or "plaintext")
        status = KafkaStatus(running=False, bootstrap=bootstrap, version=self.k.version, pids=pids, security=security)
        try:
            if self.k.bootstrap_servers:
                admin = AdminClient({**self.k.client_config(), "socket.timeout.ms": 2000, "logger": _rdkafka_log})
            else:
                admin = self._admin_client()
            md = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            status.error = str(exc)
            return status
        status.running = True
        status.broker_ids = sorted(md.brokers)
        status.controller_id = md.controller_id
        for name, topic in sorted(md.topics.items()):
            if name.startswith("__"):
                continue
            parts = topic.partitions
            rf = len(next(iter(parts.values())).replicas) if parts else 0
            status.topics[name] = {"partitions": len(parts), "replication": rf}
        return status


class AlreadyRunning(KafkaRuntimeError):  # noqa: N818 - reads naturally at the call site
    def __init__(self, status: KafkaStatus):
        super().__init__(f"Kafka is already running at {status.bootstrap} (pids {sorted(status.pids.values())})")
        self.status = status


def _kafka_uuid() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
