"""The image the chart runs agrees with the chart and the project (no Docker needed to check)."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.helm.chart import REPO_ROOT, chart_values

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM "):]


def instruction(stage: str, name: str) -> list[str]:
    return re.findall(rf"^{name} (.+)$", stage, flags=re.MULTILINE)


def test_image_runs_as_the_non_root_user_the_chart_expects():
    (user,) = instruction(final_stage(), "USER")
    uid, gid = user.split(":")
    values = chart_values()

    assert uid != "0" and uid.isdigit()
    assert int(uid) == values["podSecurityContext"]["runAsUser"]
    assert int(gid) == values["podSecurityContext"]["runAsGroup"]
    user_code = values["dagster"]["dagster-user-deployments"]["deployments"][0]
    assert user_code["podSecurityContext"]["runAsUser"] == int(uid)


def test_image_python_matches_the_project():
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    (python,) = re.findall(r"^ARG PYTHON_VERSION=(\S+)$", DOCKERFILE, flags=re.MULTILINE)

    assert python == "3.12" and f">={python}" in requires


def test_image_carries_the_job_server_of_the_charts_default_flink_version():
    (versions,) = re.findall(r'^ARG FLINK_VERSIONS="([^"]+)"$', DOCKERFILE, flags=re.MULTILINE)
    assert str(chart_values()["pipeline"]["version"]) in versions.split()
    # the job server runs on Java 17 in the submitters
    assert "openjdk-17-jre-headless" in final_stage()


def test_image_installs_exactly_the_locked_versions():
    assert "--constraint requirements.lock" in DOCKERFILE
    assert "COPY pyproject.toml requirements.lock README.md ./" in DOCKERFILE


def test_image_home_for_dagster_matches_dagsters_chart(dagster_chart):
    assert f"DAGSTER_HOME={dagster_chart.values()['global']['dagsterHome']}" in final_stage()


def test_build_context_holds_every_package_of_the_project():
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    allowed = {line.strip("!/ ") for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for pattern in packages["include"]:
        assert pattern.rstrip("*") in allowed
        assert f"COPY {pattern.rstrip('*')} ./{pattern.rstrip('*')}" in DOCKERFILE


def test_grpc_entrypoint_leaves_the_command_to_the_chart():
    (entrypoint,) = instruction(final_stage(), "ENTRYPOINT")
    # Dagster's chart and ours pass full commands as args; tini only reaps and forwards signals
    assert yaml.safe_load(entrypoint) == ["/usr/bin/tini", "--"]
