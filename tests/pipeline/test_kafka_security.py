"""Every Kafka client of the two Flink jobs starts from the cluster's client settings (SASL/TLS).

In Kubernetes the brokers require SCRAM credentials; a job whose reader, writer or
history consumer left them out could not connect. The jobs are built, not run, and no
broker here speaks SASL: the Kafka transforms are swapped for recorders of the cluster
they were given (expanding the real reader would contact the broker).
"""

from __future__ import annotations

import pickle

import apache_beam as beam
import pytest
from pydantic import SecretStr

from streaming.candles import job as candles
from streaming.candles.job import CandleJobConfig, build_candle_pipeline
from streaming.kafka.clients import KafkaClientConfig
from streaming.signals import job as signals
from streaming.signals.job import SignalJobConfig, build_signal_pipeline
from tradestream.settings import KafkaSettings, Settings

SECURE = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
          "sasl.username": "tradestream", "sasl.password": "s3cret"}


def _secure_settings(settings: Settings) -> Settings:
    kafka = KafkaSettings(**{**settings.kafka.model_dump(), "security_protocol": "SASL_PLAINTEXT",
                             "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "tradestream",
                             "sasl_password": SecretStr("s3cret")})
    return settings.model_copy(update={"kafka": kafka})


class Recorded:
    def __init__(self):
        self.readers: list[dict] = []
        self.writers: list[dict] = []


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """ReadFromKafka/WriteToKafka in both job modules replaced by recorders of the settings their
    clients would start from (the cluster's, then their own)."""
    seen = Recorded()

    class RecordRead(beam.PTransform):
        def __init__(self, topic, settings, **_):
            super().__init__()
            seen.readers.append({**settings.kafka.librdkafka(), **settings.consumer_conf()})

        def expand(self, pbegin):
            return pbegin | beam.Create([])

    class RecordWrite(beam.PTransform):
        def __init__(self, topic, kafka, producer_config=()):
            super().__init__()
            seen.writers.append({**kafka.librdkafka(), **dict(producer_config)})

        def expand(self, pcoll):
            return pcoll

    for module in (candles, signals):
        monkeypatch.setattr(module, "ReadFromKafka", RecordRead)
        monkeypatch.setattr(module, "WriteToKafka", RecordWrite)
    return seen


def _has_credentials(conf: dict) -> bool:
    return all(conf.get(k) == v for k, v in SECURE.items())


def test_the_signal_job_reads_writes_and_seeds_with_the_cluster_credentials(settings: Settings,
                                                                            recorded: Recorded) -> None:
    config = SignalJobConfig.from_settings(_secure_settings(settings))
    build_signal_pipeline(beam.Pipeline(), config)
    readers, writers = recorded.readers, recorded.writers
    assert readers and all(_has_credentials(c) for c in readers)
    assert len(writers) == 2 and all(_has_credentials(c) for c in writers)  # signals and dead letters
    history = config.engine_options().history
    assert history is not None and _has_credentials(history.kafka.librdkafka())


def test_the_candle_job_reads_and_writes_with_the_cluster_credentials(settings: Settings,
                                                                      recorded: Recorded) -> None:
    config = CandleJobConfig.from_settings(_secure_settings(settings), "stream")
    build_candle_pipeline(beam.Pipeline(), config)
    readers, writers = recorded.readers, recorded.writers
    assert readers and all(_has_credentials(c) for c in readers)
    assert len(writers) == 2 and all(_has_credentials(c) for c in writers)  # candles and dead letters


def test_plaintext_clusters_add_no_security_settings(settings: Settings) -> None:
    config = SignalJobConfig.from_settings(settings)
    assert not any(k.startswith(("sasl.", "security.")) for k in config.kafka.librdkafka())
    assert not config.kafka.secured


def test_job_configs_never_show_the_kafka_password(settings: Settings) -> None:
    secure = _secure_settings(settings)
    signal_config = SignalJobConfig.from_settings(secure)
    candle_config = CandleJobConfig.from_settings(secure, "stream")
    texts = [repr(signal_config), repr(signal_config.engine_options()), repr(candle_config),
             str(candle_config.kafka), f"{candle_config.kafka}"]
    assert not any("s3cret" in text for text in texts)
    assert "sasl.username='tradestream'" in repr(candle_config.kafka)  # what is not secret still shows


def test_the_cluster_travels_to_the_workers_with_its_credentials(settings: Settings) -> None:
    kafka = KafkaClientConfig.from_settings(_secure_settings(settings).kafka)
    assert _has_credentials(pickle.loads(pickle.dumps(kafka)).librdkafka())


def test_a_client_cannot_replace_the_clusters_settings(settings: Settings) -> None:
    kafka = KafkaClientConfig.from_settings(_secure_settings(settings).kafka)
    with pytest.raises(ValueError, match=r"\['sasl.password'\] would replace the cluster's"):
        kafka.producer({"sasl.password": "other"})
