"""The REST API of a Flink session cluster, once: overview, jobs, cancel, checkpoints, stop with a
savepoint, and which job states are active.

Used by the local session cluster (``tradestream.runtime.flink``), the Kubernetes
supervisor (cancelling a stream's jobs, stopping them with a savepoint before an upgrade),
the jobs when they look for the state to resume from (``streaming.jobs.checkpoints``) and
the stream health probe (finding a stream's job). Plain ``urllib``: a handful of
GET/PATCH/POST calls do not justify a client library. Errors
of the transport (``OSError``/``urllib.error.URLError``) and of the payload
(``ValueError``) reach the caller, who decides whether an unreachable cluster is fatal.
"""

from __future__ import annotations

import json
import time
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

    def checkpoints(self, job_id: str) -> dict:
        """A job's checkpoint statistics; ``latest.completed`` and ``latest.savepoint`` carry
        ``external_path`` and ``latest_ack_timestamp`` (ms) of the newest retained ones."""
        return self._get(f"/jobs/{job_id}/checkpoints")

    def _post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def stop_with_savepoint(self, job_id: str, target_directory: str, timeout_s: float = 300.0) -> str:
        """Stop a job after a savepoint into ``target_directory``; the savepoint's path. Raises
        RuntimeError with Flink's reason when the savepoint fails or takes longer than ``timeout_s``."""
        trigger = self._post(f"/jobs/{job_id}/stop", {"targetDirectory": target_directory, "drain": False})
        trigger_id = trigger["request-id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            answer = self._get(f"/jobs/{job_id}/savepoints/{trigger_id}")
            if answer.get("status", {}).get("id") == "COMPLETED":
                operation = answer.get("operation", {})
                if "location" in operation:
                    return operation["location"]
                raise RuntimeError(f"stopping Flink job {job_id} with a savepoint failed: "
                                   f"{operation.get('failure-cause', {}).get('stack-trace', operation)}"[:2000])
            time.sleep(1.0)
        raise RuntimeError(f"Flink job {job_id}: no savepoint in {target_directory} after {timeout_s:.0f} s")
