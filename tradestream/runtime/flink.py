"""A real Apache Flink session cluster (JobManager + TaskManager) from the PyPI distribution.

Flink's own daemon scripts run it; configuration, logs and pid files live under
``<home>/flink/``. The REST API (and web UI) listens on 127.0.0.1:<rest_port>.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tradestream.runtime import jars, procs
from tradestream.runtime.flink_rest import FlinkRestClient
from tradestream.settings import Settings

START_TIMEOUT_S = 90.0


class FlinkRuntimeError(RuntimeError):
    """The session cluster could not be started, reached or stopped."""


@dataclass
class FlinkStatus:
    running: bool
    rest_url: str
    version: str | None = None
    taskmanagers: int = 0
    slots_total: int = 0
    slots_available: int = 0
    jobs_running: int = 0
    pids: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class FlinkSession:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.f = settings.flink
        self.root = settings.paths.home / "flink"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.f.rest_port}"

    @property
    def rest(self) -> FlinkRestClient:
        """The cluster's REST API (jobs, overview, cancel)."""
        return FlinkRestClient(self.rest_url)

    @property
    def master(self) -> str:
        """What Beam's ``--flink_master`` takes to submit to this cluster."""
        return f"localhost:{self.f.rest_port}"

    @property
    def rpc_port(self) -> int:
        return 6123 + (self.f.rest_port - 8081)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"FLINK_CONF_DIR": str(self.root / "conf"), "FLINK_LOG_DIR": str(self.root / "log"),
                    "FLINK_PID_DIR": str(self.root / "pids"), "FLINK_IDENT_STRING": "tradestream"})
        java = jars.require_java17()
        env.setdefault("JAVA_HOME", str(Path(java).resolve().parent.parent))
        return env

    def _pid_files(self) -> dict[str, Path]:
        pids = self.root / "pids"
        return {"jobmanager": pids / "flink-tradestream-standalonesession.pid",
                "taskmanager": pids / "flink-tradestream-taskexecutor.pid"}

    def pids(self) -> dict[str, int]:
        out = {}
        for role, path in self._pid_files().items():
            # Flink's pid files hold one pid per line (one per started daemon)
            try:
                for line in path.read_text().split():
                    if line.isdigit() and procs.pid_alive(int(line)):
                        out[role] = int(line)
            except OSError:
                pass
        return out

    def _write_config(self, home: Path) -> None:
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                     "log4j-session.properties", "logback.xml"):
            src = home / "conf" / name
            if src.exists():
                shutil.copy(src, conf / name)
        cfg = yaml.safe_load((home / "conf" / "config.yaml").read_text())
        cfg["jobmanager"]["rpc"]["port"] = self.rpc_port
        cfg["jobmanager"]["memory"]["process"]["size"] = "1024m"
        cfg["taskmanager"]["numberOfTaskSlots"] = self.f.taskmanager_slots
        cfg["taskmanager"]["memory"]["process"]["size"] = "1536m"
        cfg["parallelism"]["default"] = self.f.parallelism
        cfg["rest"]["port"] = self.f.rest_port
        cfg.setdefault("blob", {})["server"] = {"port": "0"}
        cfg.setdefault("taskmanager", {}).setdefault("rpc", {})["port"] = "0"
        (conf / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        (conf / "masters").write_text(f"localhost:{self.f.rest_port}\n")
        (conf / "workers").write_text("localhost\n")
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "pids").mkdir(exist_ok=True)

    def start(self, timeout: float = START_TIMEOUT_S) -> FlinkStatus:
        if self.pids():
            status = self.status()
            if status.running:
                raise FlinkAlreadyRunning(status)
            self.stop()
        try:
            home = jars.flink_home(self.settings)
        except jars.RuntimeSetupError as exc:
            raise FlinkRuntimeError(str(exc)) from exc
        procs.require_free(self.f.rest_port, "the Flink REST API", "TRADESTREAM_FLINK_REST_PORT")
        procs.require_free(self.rpc_port, "the Flink JobManager RPC", "TRADESTREAM_FLINK_REST_PORT")
        self._write_config(home)
        env = self._env()
        try:
            for script in ("jobmanager.sh", "taskmanager.sh"):
                out = subprocess.run([str(home / "bin" / script), "start"], env=env, capture_output=True,
                                     text=True, check=False, stdin=subprocess.DEVNULL)
                if out.returncode != 0:
                    raise FlinkRuntimeError(f"{script} start failed: {(out.stderr or out.stdout).strip()[-500:]}")
            ok = procs.wait_for(lambda: self.status().slots_total > 0, timeout,
                                interval=0.5, alive=lambda: len(self.pids()) == 2)
            if not ok:
                logs = "\n".join(procs.tail(p, 8) for p in sorted((self.root / "log").glob("*.log")))
                raise FlinkRuntimeError(f"the Flink session cluster did not become ready within {timeout:.0f} s; "
                                        f"logs in {self.root / 'log'}:\n{logs}")
        except BaseException:
            self.stop()
            raise
        return self.status()

    def stop(self, timeout: float = 30.0) -> list[int]:
        stopped = []
        for role in ("taskmanager", "jobmanager"):
            pid = self.pids().get(role)
            if pid:
                procs.terminate(pid, timeout=timeout)
                stopped.append(pid)
        for path in self._pid_files().values():
            path.unlink(missing_ok=True)
        return stopped

    def status(self) -> FlinkStatus:
        status = FlinkStatus(running=False, rest_url=self.rest_url, pids=self.pids())
        try:
            overview = self.rest.overview()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            status.error = str(exc)
            return status
        status.running = True
        status.version = overview.get("flink-version")
        status.taskmanagers = overview.get("taskmanagers", 0)
        status.slots_total = overview.get("slots-total", 0)
        status.slots_available = overview.get("slots-available", 0)
        status.jobs_running = overview.get("jobs-running", 0)
        return status


class FlinkAlreadyRunning(FlinkRuntimeError):  # noqa: N818
    def __init__(self, status: FlinkStatus):
        super().__init__(f"the Flink session cluster is already running at {status.rest_url}")
        self.status = status
