"""The one Flink REST client, against the real local session cluster."""

from __future__ import annotations

import urllib.error

import pytest

from tradestream.runtime.flink_rest import ACTIVE_STATES, FlinkRestClient, active_jobs


def test_overview_and_jobs_come_from_the_session_cluster(flink_session):
    client = FlinkRestClient(flink_session.rest_url)
    overview = client.overview()
    assert overview["flink-version"].startswith("1.19") and overview["slots-total"] >= 1
    jobs = client.jobs()
    assert isinstance(jobs, list) and all({"jid", "name", "state"} <= set(job) for job in jobs)
    assert len(active_jobs(jobs)) == sum(job["state"] in ACTIVE_STATES for job in jobs)


def test_cancelling_a_job_the_cluster_does_not_know_is_an_http_404(flink_session):
    with pytest.raises(urllib.error.HTTPError) as info:
        FlinkRestClient(flink_session.rest_url).cancel("0" * 32)
    assert info.value.code == 404


def test_an_unreachable_cluster_raises_a_transport_error_quickly():
    with pytest.raises(OSError):
        FlinkRestClient("http://127.0.0.1:9", timeout_s=1).jobs()


def test_active_means_running_or_about_to_run_again():
    jobs = [{"jid": state.lower(), "state": state} for state in (
        "INITIALIZING", "CREATED", "RUNNING", "FAILING", "FAILED", "CANCELLING", "CANCELED", "FINISHED",
        "RESTARTING", "SUSPENDED", "RECONCILING")]
    assert [j["state"] for j in active_jobs(jobs)] == ["INITIALIZING", "CREATED", "RUNNING", "RESTARTING",
                                                       "RECONCILING"]
