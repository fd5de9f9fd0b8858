"""Beam's FlinkRunner on both paths: the embedded mini-cluster and a real session cluster."""

from __future__ import annotations

import psutil
import pytest

from streaming.jobs.smoke import EXPECTED, run_smoke


@pytest.mark.services  # Beam's job server (a JVM) runs the mini-cluster
def test_smoke_pipeline_counts_words_on_the_embedded_mini_cluster(settings, tmp_path):
    result = run_smoke(settings, tmp_path, flink_master="[local]")
    assert result.counts == EXPECTED


def test_session_cluster_runs_jobmanager_and_taskmanager_processes(flink_session):
    status = flink_session.status()
    assert status.running and status.taskmanagers == 1 and status.slots_total >= 1
    assert status.version.startswith("1.19")
    roles = {role: " ".join(psutil.Process(pid).cmdline()) for role, pid in flink_session.pids().items()}
    assert "StandaloneSessionClusterEntrypoint" in roles["jobmanager"]
    assert "TaskManagerRunner" in roles["taskmanager"]


def test_smoke_pipeline_counts_words_on_the_session_cluster(settings, flink_session, tmp_path):
    finished_before = {j["jid"] for j in flink_session.rest.jobs()}
    result = run_smoke(settings, tmp_path, flink_master=flink_session.master)
    assert result.counts == EXPECTED
    new_jobs = [j for j in flink_session.rest.jobs() if j["jid"] not in finished_before]
    assert [j["state"] for j in new_jobs] == ["FINISHED"]
