"""A real Apache Kafka broker (KRaft, combined broker+controller) run from Maven Central jars.

One node by default on 127.0.0.1:9092; ``start(brokers=3)`` forms a three-node KRaft
quorum (client ports port, port+10, port+20; controller ports controller_port+0/10/20)
for replication tests. State lives in ``<home>/kafka/node-<i>/``; each node's pid is in
``node-<i>/kafka.pid`` and its log in ``node-<i>/logs/server.log``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tradestream.runtime import jars, procs
from tradestream.settings import Settings

log = logging.getLogger(__name__)
# librdkafka reports every refused connection while a broker boots; keep those out of the console
_rdkafka_log = logging.getLogger("tradestream.rdkafka")
_rdkafka_log.addHandler(logging.NullHandler())
_rdkafka_log.propagate = False

PORT_STEP = 10
START_TIMEOUT_S = 90.0

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

    def configured_nodes(self) -> int:
        try:
            return int(json.loads(self._nodes_file().read_text())["brokers"])
        except (OSError, ValueError, KeyError):
            return 0

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

    def start(self, brokers: int = 1, timeout: float = START_TIMEOUT_S) -> KafkaStatus:
        """Start the local cluster and return once it answers metadata requests.

        Raises KafkaRuntimeError when it is already running with another size, a port is
        taken, Java or the jars are missing, or a node fails to come up; in that case every
        node started here is stopped again (nothing is left half-started).
        """
        if brokers not in (1, 3):
            raise KafkaRuntimeError(f"--brokers {brokers} is not supported; use 1 or 3")
        running = self.pids()
        if running:
            existing = self.configured_nodes()
            if existing != brokers:
                raise KafkaRuntimeError(
                    f"a {existing}-broker local Kafka is already running (pids {sorted(running.values())}); "
                    f"`tradestream kafka stop` first to start {brokers}")
            status = self.status()
            if status.running and len(running) == brokers:
                raise AlreadyRunning(status)
            # some nodes died: restart the missing ones below
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
        cluster_id = self._cluster_id(java, classpath, brokers)
        started: list[int] = []
        try:
            for node in range(brokers):
                if node in running:
                    continue
                props = self._write_config(node, brokers)
                self._format(java, classpath, node, brokers, cluster_id, props)
                self._launch(java, classpath, node, props)
                started.append(node)
            self._await_ready(brokers, timeout)
        except BaseException:
            for node in started:
                pid = procs.read_pid(self._pid_file(node))
                if pid:
                    procs.terminate(pid, timeout=15)
            raise
        return self.status()

    def _cluster_id(self, java: str, classpath: str, brokers: int) -> str:
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
        meta.write_text(json.dumps({"brokers": brokers, "cluster_id": cluster_id}))
        return cluster_id

    def _write_config(self, node: int, brokers: int) -> Path:
        d = self.node_dir(node)
        (d / "data").mkdir(parents=True, exist_ok=True)
        (d / "logs").mkdir(parents=True, exist_ok=True)
        host = self.k.host
        rf = min(brokers, 3)
        lines = {
            "process.roles": "broker,controller",
            "node.id": node,
            "listeners": f"PLAINTEXT://{host}:{self.client_port(node)},CONTROLLER://{host}:{self.controller_port(node)}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.client_port(node)}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
        if brokers == 1:
            lines["controller.quorum.bootstrap.servers"] = f"{host}:{self.controller_port(0)}"
        else:
            lines["controller.quorum.voters"] = ",".join(
                f"{i}@{host}:{self.controller_port(i)}" for i in range(brokers))
        props = d / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        (self.root / "log4j2.xml").write_text(LOG4J2_XML)
        return props

    def _format(self, java: str, classpath: str, node: int, brokers: int, cluster_id: str, props: Path) -> None:
        if (self.node_dir(node) / "data" / "meta.properties").exists():
            return
        cmd = [java, "-cp", classpath, f"-Dlog4j2.configurationFile={self.root / 'log4j2.xml'}",
               f"-Dkafka.logs.dir={self.node_dir(node) / 'logs'}",
               "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted"]
        if brokers == 1:
            cmd.append("--standalone")
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise KafkaRuntimeError(f"formatting Kafka storage of node {node} failed: "
                                    f"{(out.stderr or out.stdout).strip()[-500:]}")

    def _launch(self, java: str, classpath: str, node: int, props: Path) -> None:
        d = self.node_dir(node)
        cmd = [java, f"-Xmx{self.k.heap}", f"-Xms{self.k.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={self.root / 'log4j2.xml'}", f"-Dkafka.logs.dir={d / 'logs'}",
               "-cp", classpath, "kafka.Kafka", str(props)]
        with open(d / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=d, **procs.detach_kwargs())
        self._pid_file(node).write_text(str(proc.pid))
        log.info("started Kafka node %d (pid %d) on %s:%d", node, proc.pid, self.k.host, self.client_port(node))

    def _await_ready(self, brokers: int, timeout: float) -> None:
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
            # The one place that builds a Kafka client without streaming.kafka.clients: the local runtime
            # asks the plaintext listeners it configured itself, and tradestream/ does not import streaming/.
            admin = admin or AdminClient({"bootstrap.servers": self.bootstrap(brokers), "socket.timeout.ms": 2000,
                                          "logger": _rdkafka_log})
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
        pids = self.pids()
        bootstrap = self.k.bootstrap_servers or self.bootstrap()
        status = KafkaStatus(running=False, bootstrap=bootstrap, version=self.k.version, pids=pids)
        try:
            admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "logger": _rdkafka_log})
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
