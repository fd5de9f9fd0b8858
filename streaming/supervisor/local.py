"""Streams as local background processes (`make run`, tests).

Each stream gets ``<home>/streams/<name>/`` with ``spec.json`` (what runs, config hash),
``pid``, ``started_at`` and ``stream.log``. Processes are detached (own session) so they
outlive the Dagster run that started them; the supervisor sensor watches them.

A spec's command runs in this very environment, wherever the supervisor was started from:
``python`` (``module_command``: ``python -m <module> ...``) is this process's interpreter, and
any other command without a path is looked up next to it first (a console script of this
environment), then on PATH.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from streaming.supervisor.base import PYTHON, StreamHandle, StreamSpec, StreamStatus
from tradestream.runtime import procs

log = logging.getLogger(__name__)


class LocalProcessBackend:
    def __init__(self, home: Path, flink_ui_url: str | None = None):
        self.root = Path(home) / "streams"
        self.flink_ui_url = flink_ui_url

    def _dir(self, name: str) -> Path:
        return self.root / name

    def _read_spec(self, name: str) -> dict | None:
        try:
            return json.loads((self._dir(name) / "spec.json").read_text())
        except (OSError, ValueError):
            return None

    def _pid(self, name: str) -> int | None:
        return procs.read_pid(self._dir(name) / "pid")

    def ensure(self, spec: StreamSpec) -> StreamHandle:
        current = self.status(spec.name)
        replaced = False
        if current.alive:
            if current.config_hash == spec.config_hash:
                return StreamHandle(spec.name, spec.config_hash, started=False, location=current.location or "",
                                    ui_url=current.ui_url, pid=current.pid)
            log.info("stream %s runs with config %s; restarting with %s", spec.name, current.config_hash,
                     spec.config_hash)
            self.stop(spec.name)
            replaced = True
        d = self._dir(spec.name)
        d.mkdir(parents=True, exist_ok=True)
        (d / "spec.json").write_text(spec.to_json())
        argv = local_command(spec.argv)
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        with open(d / "stream.log", "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {spec.name}: {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
                                    **procs.detach_kwargs())
        (d / "pid").write_text(str(proc.pid))
        (d / "started_at").write_text(str(time.time()))
        (d / "exit_code").unlink(missing_ok=True)
        return StreamHandle(spec.name, spec.config_hash, started=True, location=f"pid {proc.pid}",
                            ui_url=self.flink_ui_url if spec.kind == "beam" else None, pid=proc.pid,
                            replaced=replaced)

    def status(self, name: str) -> StreamStatus:
        d = self._dir(name)
        spec = self._read_spec(name)
        pid = self._pid(name)
        started_at = None
        try:
            started_at = float((d / "started_at").read_text())
        except (OSError, ValueError):
            pass
        log_path = d / "stream.log"
        st = StreamStatus(name=name, alive=pid is not None, config_hash=spec and spec.get("config_hash"),
                          location=f"pid {pid}" if pid else None, pid=pid, started_at=started_at,
                          log_path=str(log_path) if log_path.exists() else None,
                          ui_url=self.flink_ui_url if spec and spec.get("kind") == "beam" else None)
        if spec is None:
            st.detail = "never started"
        elif pid is None:
            st.detail = "process is not running"
            st.last_log_lines = procs.tail(log_path, 10).splitlines()
        return st

    def stop(self, name: str, timeout: float = 30.0) -> bool:
        pid = self._pid(name)
        if pid is None:
            return False
        try:
            os.killpg(pid, 0)
            group = True
        except OSError:
            group = False
        procs.terminate(pid, timeout=timeout)
        if group:
            # a Beam job's process leads its session: take its job-server JVM down with it
            try:
                os.killpg(pid, 15)
            except OSError:
                pass
        (self._dir(name) / "pid").unlink(missing_ok=True)
        return True

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()) if self.root.exists() else []

    def stop_all(self) -> list[str]:
        return [n for n in self.names() if self.stop(n)]


def local_command(argv: tuple[str, ...] | list[str]) -> list[str]:
    """The command line to start locally: ``python`` is this interpreter, a bare command name
    one of this environment's scripts when there is one, anything else as given."""
    command = list(argv)
    if not command or os.sep in command[0]:
        return command
    if command[0] == PYTHON:
        command[0] = sys.executable
    else:
        script = Path(sys.executable).parent / command[0]
        if script.is_file() and os.access(script, os.X_OK):
            command[0] = str(script)
    return command
