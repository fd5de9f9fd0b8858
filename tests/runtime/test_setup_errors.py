"""Setup and start-up refuse broken prerequisites with a one-line error and a non-zero exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import service_fixture
from tradestream.runtime import jars
from tradestream.runtime.kafka import KafkaRuntimeError, LocalKafka
from tradestream.settings import KafkaSettings, PathSettings, Settings

REPO = Path(__file__).resolve().parents[2]


def test_no_python312_is_reported_with_the_places_looked_at(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "nopyenv"), "HOME": str(tmp_path)}
    if Path("/usr/bin/python3.12").exists():  # pragma: no cover - not on this machine kind
        pytest.fail("this test expects no system python3.12")
    out = subprocess.run(["bash", str(REPO / "scripts/find_python.sh")], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    assert "no Python 3.12 found" in out.stderr
    assert str(tmp_path / "nopyenv") in out.stderr
    assert "TRADESTREAM_PYTHON" in out.stderr


def test_python312_is_found_in_pyenv_versions_folder():
    out = subprocess.run(["bash", str(REPO / "scripts/find_python.sh")], capture_output=True, text=True)
    assert out.returncode == 0
    path = out.stdout.strip()
    ver = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert ver.stdout.strip() == "(3, 12)"


def test_missing_java_is_named(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(jars.RuntimeSetupError, match="java is not installed"):
        jars.require_java17()


def test_missing_mvn_is_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(jars.RuntimeSetupError, match=r"mvn \(Apache Maven\) is not installed"):
        jars.mvn_binary()


@service_fixture
def kafka_cache_copy(tmp_path: Path) -> Settings:
    """Settings whose cache holds a copy of the Kafka jars `make setup` provisioned (java and mvn check them)."""
    real = Settings()
    cache = tmp_path / "cache"
    art = jars.kafka_artifact(real)
    shutil.copytree(art.folder, cache / art.folder.name)
    return Settings(paths=PathSettings(home=tmp_path / "home", cache_dir=cache),
                    kafka=KafkaSettings(port=19292, controller_port=19293))


def test_truncated_jar_in_cache_is_reported_and_nothing_starts(kafka_cache_copy):
    s = kafka_cache_copy
    libs = jars.kafka_artifact(s).folder / "libs"
    victim = next(libs.glob("kafka_2.13-*.jar"))
    victim.write_bytes(victim.read_bytes()[:1000])
    with pytest.raises(KafkaRuntimeError, match=r"cache is corrupt: .*kafka_2\.13-.*\.jar .*run `make setup`"):
        LocalKafka(s).start()
    assert not LocalKafka(s).running


def test_half_downloaded_cache_without_completion_marker_is_not_used(kafka_cache_copy):
    s = kafka_cache_copy
    (jars.kafka_artifact(s).folder / jars.MARKER).unlink()
    with pytest.raises(KafkaRuntimeError, match="is not provisioned .* run `make setup`"):
        LocalKafka(s).start()


def test_setup_refetches_a_corrupt_cache(kafka_cache_copy):
    s = kafka_cache_copy
    libs = jars.kafka_artifact(s).folder / "libs"
    victim = next(libs.glob("kafka-clients-*.jar"))
    victim.write_bytes(b"not a jar")
    lines: list[str] = []
    jars.provision_kafka(s, progress=lines.append)
    jars.verify(jars.kafka_artifact(s))
    assert any("fetching again" in line for line in lines)


def test_cli_reports_an_invalid_setting_by_name_and_value():
    env = {**os.environ, "TRADESTREAM_KAFKA_PORT": "notaport", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "tradestream_cli.main", "kafka", "status"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert "port" in out.stderr and "'notaport'" in out.stderr


def test_flink_master_option_rejects_a_malformed_address():
    out = subprocess.run([sys.executable, "-m", "tradestream_cli.main", "pipeline", "smoke", "--flink-master",
                          "nohostport"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 2
    assert "nohostport" in out.stderr
