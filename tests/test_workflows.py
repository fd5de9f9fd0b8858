"""The GitHub Actions workflows (no runner is reachable from here): actionlint, built from the Go
module proxy, finds nothing in them, and they do what the project promises forks: `make test`, the
chart on a kind cluster in dry mode until every pod is Ready and candles appear, the image on a tag."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.services import service_fixture

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"


@service_fixture(scope="module")
def actionlint() -> str:
    proc = subprocess.run([str(REPO / "scripts" / "install_actionlint.sh")], capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(job: dict) -> list[dict]:
    return job["steps"]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def test_actionlint_finds_nothing_in_the_workflows(actionlint):
    proc = subprocess.run([actionlint, "-no-color"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_would_catch_a_broken_workflow(actionlint, tmp_path):
    """Guards the test above: the checker really reads expressions and job references."""
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    (broken / "broken.yml").write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: nowhere\n    steps:\n"
        "      - run: echo ${{ github.no_such_context }}\n")
    proc = subprocess.run([actionlint, "-no-color", str(broken / "broken.yml")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nowhere" in proc.stdout and "no_such_context" in proc.stdout


def test_ci_runs_make_test_from_a_fresh_checkout():
    (job,) = workflow("ci.yml")["jobs"].values()
    assert steps(job)[0]["uses"].startswith("actions/checkout@")
    assert ".ci/run" in runs(job)
    assert "make test" in (REPO / ".ci" / "run").read_text()
    setup = {step.get("uses", "").split("@")[0]: step.get("with", {}) for step in steps(job)}
    assert setup["actions/setup-python"]["python-version"] == "3.12"
    assert setup["actions/setup-java"]["java-version"] == "17"


def test_kind_installs_the_chart_in_dry_mode_and_waits_for_ready_pods_and_candles():
    (job,) = workflow("kind.yml")["jobs"].values()
    commands = runs(job)
    assert any(step.get("uses", "").startswith("helm/kind-action@") for step in steps(job))
    assert "helm install tradestream ./helm" in commands and "-f helm/values-small.yaml" in commands
    assert ".github/scripts/wait-ready.sh" in commands and ".github/scripts/wait-candles.sh" in commands
    small = yaml.safe_load((REPO / "helm" / "values-small.yaml").read_text())
    assert small["pipeline"]["runMode"] == "dry" and small["dataIngestion"]["runMode"] == "dry"
    for script in ("wait-ready.sh", "wait-candles.sh"):
        proc = subprocess.run(["bash", "-n", str(REPO / ".github" / "scripts" / script)], capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stderr


def test_a_tag_builds_and_publishes_the_image():
    release = workflow("release.yml")
    trigger = release.get("on") or release.get(True)  # YAML 1.1 reads a bare `on` as true
    assert trigger["push"]["tags"] == ["v*"]
    (job,) = release["jobs"].values()
    build = next(step for step in steps(job) if step.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["push"] is True
    assert release["permissions"]["packages"] == "write"


def test_the_fault_cases_run_weekly_and_on_demand():
    faults = workflow("faults.yml")
    trigger = faults.get("on") or faults.get(True)
    assert set(trigger) == {"schedule", "workflow_dispatch"}
    (job,) = faults["jobs"].values()
    assert "make faults" in runs(job)
    assert "faults:" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("name", ["ci.yml", "kind.yml", "release.yml", "faults.yml"])
def test_every_job_has_a_timeout_and_least_permissions(name):
    spec = workflow(name)
    assert spec["permissions"]["contents"] == "read"
    for job in spec["jobs"].values():
        assert job["timeout-minutes"] <= 60
