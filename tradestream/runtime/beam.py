"""Pipeline options for Beam's FlinkRunner on this project's runtime (no Docker anywhere).

``[local]`` runs a Flink mini-cluster inside the job-server JVM (the embedded default);
``HOST:PORT`` submits to a session cluster. The SDK harness is LOOPBACK (Python workers
inside the submitting process), unless an EXTERNAL worker pool address is given (the
Kubernetes deployment's sidecar).
"""

from __future__ import annotations

from tradestream.runtime import jars
from tradestream.settings import Settings


def flink_pipeline_args(settings: Settings, *, streaming: bool, job_name: str, flink_master: str | None = None,
                        parallelism: int | None = None, checkpointing_interval_ms: int | None = None,
                        worker_pool: str | None = None) -> list[str]:
    f = settings.flink
    master = flink_master or f.master
    args = [
        "--runner=FlinkRunner",
        f"--flink_master={master}",
        f"--flink_version={f.flink_version}",
        f"--flink_job_server_jar={jars.job_server_jar(settings)}",
        f"--job_name={job_name}",
        f"--parallelism={parallelism or f.parallelism}",
    ]
    worker_pool = worker_pool or f.worker_pool
    if worker_pool:
        args += ["--environment_type=EXTERNAL", f"--environment_config={worker_pool}"]
    else:
        args += ["--environment_type=LOOPBACK"]
    if streaming:
        args += ["--streaming", f"--checkpointing_interval={checkpointing_interval_ms or f.checkpointing_interval_ms}"]
    return args
