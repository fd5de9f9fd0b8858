"""A small Beam pipeline that proves the FlinkRunner path works on this machine.

It counts words of a fixed text, on the embedded mini-cluster or a session cluster, and
writes ``word<TAB>count`` lines to a file the caller reads back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.runtime.beam import flink_pipeline_args
from tradestream.settings import Settings

TEXT = ["kafka flink beam", "beam dagster duckdb beam", "flink kafka beam"]
EXPECTED = {"beam": 4, "flink": 2, "kafka": 2, "dagster": 1, "duckdb": 1}


@dataclass
class SmokeResult:
    counts: dict[str, int]
    seconds: float
    flink_master: str

    @property
    def ok(self) -> bool:
        return self.counts == EXPECTED


def run_smoke(settings: Settings, out_dir: Path, flink_master: str | None = None) -> SmokeResult:
    master = flink_master or settings.flink.master
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / "counts"
    for old in out_dir.glob("counts*"):
        old.unlink()
    args = flink_pipeline_args(settings, streaming=False, job_name="tradestream-smoke", flink_master=master)
    started = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(args)) as p:
        (p
         | "Text" >> beam.Create(TEXT)
         | "Words" >> beam.FlatMap(str.split)
         | "Count" >> beam.combiners.Count.PerElement()
         | "Format" >> beam.MapTuple(lambda word, n: f"{word}\t{n}")
         | "Write" >> beam.io.WriteToText(str(prefix), num_shards=1, shard_name_template=""))
    seconds = time.monotonic() - started
    counts = {}
    for line in prefix.read_text().splitlines():
        word, n = line.split("\t")
        counts[word] = int(n)
    return SmokeResult(counts=counts, seconds=seconds, flink_master=master)
