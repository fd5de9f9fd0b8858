"""Small helpers for the local runtime's background processes: ports, pid files, stopping."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import psutil


class PortInUseError(RuntimeError):
    pass


def port_owner(port: int, host: str = "127.0.0.1") -> str | None:
    """Describe the process listening on ``port`` ("pid 4242 (java)"), or None when it is free."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid:
                    try:
                        name = psutil.Process(conn.pid).name()
                    except psutil.Error:
                        name = "?"
                    return f"pid {conn.pid} ({name})"
                return "another process"
    except psutil.AccessDenied:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return "another process"
    return None


def require_free(port: int, what: str, env_var: str, host: str = "127.0.0.1") -> None:
    owner = port_owner(port, host)
    if owner:
        raise PortInUseError(f"port {port} needed by {what} is in use by {owner}; stop it or set {env_var}")


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def terminate(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM, wait, then SIGKILL. Returns True when the process was stopped gracefully."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return True
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
        return True
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return False
    except psutil.Error:
        return True


def wait_for(predicate, timeout: float, interval: float = 0.25, alive=None) -> bool:
    """Poll ``predicate`` until true or ``timeout``; stop early when ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return bool(predicate())


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def detach_kwargs() -> dict:
    """Popen arguments that keep a child alive after the CLI exits and out of our signal group."""
    return {"start_new_session": True, "stdin": open(os.devnull)}  # noqa: SIM115
