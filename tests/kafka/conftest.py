"""A secured local Kafka (SASL/SCRAM-SHA-512 over TLS, StandardAuthorizer, one user per component),
started the way a user does: ``tradestream kafka start --security sasl_ssl``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import make_settings
from tests.services import service_fixture
from tradestream.runtime.kafka import LocalKafka
from tradestream.settings import KafkaSettings, Settings

#: Next to the plaintext test broker's ports (which uses port, port + 10 and port + 20 for 3 brokers).
PORT_OFFSET = 5


def secured_env(home: Path) -> dict[str, str]:
    """The environment of the secured cluster's own home and ports."""
    base = KafkaSettings()
    return {**os.environ, "TRADESTREAM_HOME": str(home), "TRADESTREAM_KAFKA_PORT": str(base.port + PORT_OFFSET),
            "TRADESTREAM_KAFKA_CONTROLLER_PORT": str(base.controller_port + PORT_OFFSET)}


@service_fixture(scope="session")
def secured_kafka(tmp_path_factory) -> Iterator[LocalKafka]:
    """The secured single-node cluster with the platform's topics, users and ACLs (as its admin made them)."""
    home = tmp_path_factory.mktemp("secured-kafka")
    env = secured_env(home)
    kafka = KafkaSettings(port=int(env["TRADESTREAM_KAFKA_PORT"]),
                          controller_port=int(env["TRADESTREAM_KAFKA_CONTROLLER_PORT"]))
    broker = LocalKafka(make_settings(home, kafka=kafka))
    proc = subprocess.run([sys.executable, "-m", "tradestream_cli.main", "kafka", "start", "--security", "sasl_ssl"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield broker
    finally:
        broker.stop()


def component_settings(broker: LocalKafka, component: str) -> Settings:
    """Settings of a process connecting as ``component`` (its SCRAM user, the CA)."""
    from streaming.kafka.access import user_name

    return broker.settings.model_copy(update={"kafka": broker.client_settings(user_name(component))})
