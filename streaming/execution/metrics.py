"""Prometheus metrics of the executor: its counters, read at scrape time (prometheus-client's custom
collector pattern, as ``streaming/ingestion/metrics.py`` does), so the hot path keeps plain integers.
The Helm chart's probes ask ``/metrics``: it answers while the process runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from streaming.execution.stream import ExecutionStream

log = logging.getLogger(__name__)


class ExecutionCollector(Collector):
    def __init__(self, stream: ExecutionStream):
        self.stream = stream

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = self.stream.counters
        records = CounterMetricFamily("tradestream_execution_records", "Input records processed", labels=["input"])
        for kind, count in sorted(c.records.items()):
            records.add_metric([kind], count)
        yield records
        outputs = CounterMetricFamily("tradestream_execution_outputs", "Output records produced", labels=["kind"])
        for kind, count in sorted(c.outputs.items()):
            outputs.add_metric([kind], count)
        yield outputs
        yield CounterMetricFamily("tradestream_execution_transactions", "Committed transactions",
                                  value=c.transactions)
        yield CounterMetricFamily("tradestream_execution_aborted", "Aborted transactions", value=c.aborted)
        executor = self.stream.executor
        if executor is None:
            return
        # the stream's thread changes these while a scrape reads them: a scrape that meets a change skips them
        try:
            counters = sorted(dict(executor.counters).items())
            equities = [(a.name, executor.account_state(a.name).equity) for a in executor.config.accounts]
        except RuntimeError:
            return
        decisions = CounterMetricFamily("tradestream_execution_decisions",
                                        "Executor counters: orders, fills, denials and rejections by reason",
                                        labels=["what"])
        for name, count in counters:
            decisions.add_metric([name], count)
        yield decisions
        equity = GaugeMetricFamily("tradestream_execution_equity", "Account equity", labels=["account"])
        for name, value in equities:
            equity.add_metric([name], value)
        yield equity


def serve_metrics(stream: ExecutionStream, port: int, host: str = "0.0.0.0") -> None:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ExecutionCollector(stream))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on port {port}: {exc.strerror or exc}; choose another with "
                      "--metrics-port or TRADESTREAM_EXECUTION_METRICS_PORT") from None
    log.info("serving Prometheus metrics on http://%s:%d/metrics", host, port)
