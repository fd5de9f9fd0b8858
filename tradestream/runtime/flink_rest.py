"""The REST API of a Flink session cluster, once: overview, jobs, cancel, and which job states are active.

Used by the local session cluster (``tradestream.runtime.flink``), the Kubernetes
supervisor (cancelling a stream's jobs) and the stream health probe (finding a stream's
job). Plain ``urllib``: three GET/PATCH calls do not justify a client library. Errors
of the transport (``OSError``/``urllib.error.URLError``) and of the payload
(``ValueError``) reach the caller, who decides whether an unreachable cluster is fatal.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable

#: Job states of Flink 1.19 (``org.apache.flink.api.common.JobStatus``) in which a job runs or
#: will run again: the non-terminal states except FAILING and CANCELLING, which only lead to a
#: terminal state (FAILED, CANCELED; FINISHED and SUSPENDED are terminal too). RECONCILING is a
#: job a restarted JobManager is taking over: still the stream's job, not to be started twice.
ACTIVE_STATES: frozenset[str] = frozenset({"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"})


def active_jobs(jobs: Iterable[dict]) -> list[dict]:
    """The jobs (as ``/jobs/overview`` lists them) whose state is in ACTIVE_STATES."""
    return [job for job in jobs if job.get("state") in ACTIVE_STATES]


class FlinkRestClient:
    """``GET /overview``, ``GET /jobs/overview`` and ``PATCH /jobs/<id>?mode=cancel`` of one cluster."""

    def __init__(self, base_url: str, timeout_s: float = 3.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"FlinkRestClient({self.base_url!r})"

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(self.base_url + path, timeout=self.timeout_s) as response:  # noqa: S310
            return json.loads(response.read())

    def overview(self) -> dict:
        """The cluster: ``flink-version``, ``taskmanagers``, ``slots-total``, ``slots-available``, ``jobs-running``."""
        return self._get("/overview")

    def jobs(self) -> list[dict]:
        """Every job the cluster knows: [{'jid', 'name', 'state', 'start-time', ...}]."""
        return self._get("/jobs/overview").get("jobs", [])

    def cancel(self, job_id: str) -> None:
        request = urllib.request.Request(f"{self.base_url}/jobs/{job_id}?mode=cancel", method="PATCH")
        with urllib.request.urlopen(request, timeout=self.timeout_s):  # noqa: S310
            pass
