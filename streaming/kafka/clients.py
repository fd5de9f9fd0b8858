"""Which Kafka cluster to talk to, with which credentials, and the one factory of its clients.

``KafkaClientConfig`` is the cluster as every client sees it: the bootstrap address plus the
librdkafka settings all clients share (security protocol, SASL mechanism and credentials),
built from the settings by ``KafkaClientConfig.from_settings``. Consumers, producers (plain
and transactional) and admin clients of the product are made by its ``consumer``/``producer``/
``transactional_producer``/``admin`` methods and nowhere else, so a secured cluster needs its
credentials in one place only.

The value is picklable: it travels with the Beam jobs to their workers (job configs, reader
and writer settings, the signal job's history source). Its repr and str show the bootstrap
address and the non-secret settings only; a SASL password once leaked into a job config's
repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from tradestream.settings import KafkaSettings

#: Parts of librdkafka setting names whose values are secret (sasl.password, ssl.key.password,
#: sasl.oauthbearer.client.secret, ssl.key.pem, ...).
_SECRET_PARTS = ("password", "secret", "key.pem")


def is_secret(name: str) -> bool:
    """Whether the librdkafka setting ``name`` holds a secret that must never be shown."""
    return any(part in name for part in _SECRET_PARTS)


@dataclass(frozen=True, repr=False)
class KafkaClientConfig:
    """The cluster every client of this process connects to. Picklable; secrets stay out of its repr."""

    bootstrap: str
    #: librdkafka settings every client shares besides the bootstrap address (security), sorted
    shared: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> KafkaClientConfig:
        """The cluster of ``kafka`` (``KafkaSettings.client_config()``: bootstrap, and SASL/TLS when configured)."""
        config = dict(kafka.client_config())
        bootstrap = config.pop("bootstrap.servers")
        return cls(bootstrap, tuple(sorted(config.items())))

    @property
    def secured(self) -> bool:
        """Whether clients authenticate or encrypt (anything other than PLAINTEXT)."""
        return any(name.startswith(("security.", "sasl.", "ssl.")) for name, _ in self.shared)

    def librdkafka(self) -> dict[str, Any]:
        """The settings every client starts from, secrets included: for the factories, never for a log."""
        return {**dict(self.shared), "bootstrap.servers": self.bootstrap}

    def _config(self, own: Mapping[str, Any] | None) -> dict[str, Any]:
        base = self.librdkafka()
        clash = sorted(set(base) & set(own or {}))
        if clash:
            raise ValueError(f"a client's own settings {clash} would replace the cluster's; set them in the "
                             "Kafka settings (TRADESTREAM_KAFKA_*) instead")
        return {**base, **(own or {})}

    def consumer(self, group_id: str, config: Mapping[str, Any] | None = None) -> Consumer:
        """A consumer of group ``group_id`` with the client's own ``config`` on top of the cluster's settings."""
        return Consumer(self._config({"group.id": group_id, **(config or {})}))

    def producer(self, config: Mapping[str, Any] | None = None) -> Producer:
        return Producer(self._config(config))

    def transactional_producer(self, transactional_id: str, config: Mapping[str, Any] | None = None) -> Producer:
        """A producer whose records, and the consumer offsets it sends, commit or abort together.

        The caller runs ``init_transactions`` first: it fences (and aborts the open transaction
        of) any older producer with the same ``transactional_id``, e.g. a process killed mid-way.
        Retries back off 5 ms (librdkafka's default is 100 ms): right after a commit the
        coordinator answers the next transaction's first request with CONCURRENT_TRANSACTIONS
        until it has written the previous commit's markers, and a 100 ms wait there would add
        100 ms to every transaction (measured: 100 ms -> 12 ms per transaction on one broker).
        """
        return Producer(self._config({"transactional.id": transactional_id, "enable.idempotence": True,
                                      "retry.backoff.ms": 5, "retry.backoff.max.ms": 100, **(config or {})}))

    def admin(self, config: Mapping[str, Any] | None = None) -> AdminClient:
        return AdminClient(self._config(config))

    def __repr__(self) -> str:
        shown = "".join(f", {name}={'***' if is_secret(name) else value!r}" for name, value in self.shared)
        return f"KafkaClientConfig(bootstrap={self.bootstrap!r}{shown})"

    __str__ = __repr__
