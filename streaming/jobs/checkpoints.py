"""Where a job's Flink checkpoints and savepoints live, and how a restart resumes from them (candle and
signal job).

One layout, locally and on Kubernetes, under the state root (``flink.state_dir``: a
``file://`` directory, on Kubernetes a ReadWriteMany volume, or an ``s3://`` prefix; by
default the runtime home)::

    <root>/checkpoints/<job name>/<flink job id>/chk-<n>/_metadata   retained checkpoints
    <root>/savepoints/<job name>/savepoint-<...>/_metadata          savepoints (stop before an upgrade)

Flink keeps a job's checkpoints after it is cancelled or killed (externalized, retained).
A restart resumes from the newest restore point: a checkpoint or savepoint found by
listing the root (when it is a local or mounted directory), or one the session cluster
reports for an earlier job of the same name (its REST API knows the paths on any
storage, S3 included). With a session cluster the path goes to Beam's
``--savepoint_path``; with the embedded mini-cluster Beam ignores that option (it only
reaches RemoteStreamEnvironment in Beam 2.62), so it goes into a Flink configuration
directory (``execution.savepoint.path``) passed with ``--flink_conf_dir``.
"""

from __future__ import annotations

import logging
import re
import shutil
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from tradestream.runtime.flink_rest import FlinkRestClient
from tradestream.settings import Settings

log = logging.getLogger(__name__)

LOCAL_MASTERS = ("[local]", "[auto]")
KEEP_SAVEPOINTS = 3

_CHECKPOINT = re.compile(r"chk-(\d+)")
_SAVEPOINT = re.compile(r"savepoint-[0-9a-f]+-[0-9a-f]+")


@dataclass(frozen=True, order=True)
class RestorePoint:
    """A complete checkpoint or savepoint: when it was taken (ms), where (path or URI), which kind."""

    taken_ms: int
    location: str
    kind: Literal["checkpoint", "savepoint"]


# ------------------------------------------------------------------ the layout


def state_root(settings: Settings) -> str:
    """The state root as a URI: ``flink.state_dir``, else the runtime home."""
    return (settings.flink.state_dir or settings.paths.home.resolve().as_uri()).rstrip("/")


def job_state(settings: Settings, job_name: str, kind: Literal["checkpoints", "savepoints"]) -> str:
    """``<root>/checkpoints/<job_name>`` or ``<root>/savepoints/<job_name>`` as a URI."""
    return f"{state_root(settings)}/{kind}/{job_name}"


def local_path(location: str | Path) -> Path | None:
    """The local directory of a ``file://`` URI or plain path; None for remote storage (s3://...)."""
    if isinstance(location, Path):
        return location
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else location)
    return None


def _uri(location: str | Path) -> str:
    path = local_path(location)
    return path.resolve().as_uri() if path is not None else str(location)


# ------------------------------------------------------------------ finding restore points


def _taken_ms(metadata: Path) -> int:
    return int(metadata.stat().st_mtime * 1000)


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest complete checkpoint under ``checkpoint_dir`` (any job id), or None."""
    if not checkpoint_dir.is_dir():
        return None
    found = []
    for job in checkpoint_dir.iterdir():
        if not job.is_dir():
            continue
        for chk in job.iterdir():
            match = _CHECKPOINT.fullmatch(chk.name)
            if match and (chk / "_metadata").is_file():
                found.append(((chk / "_metadata").stat().st_mtime, int(match.group(1)), chk))
    if not found:
        return None
    return max(found)[2]


def savepoints(savepoint_dir: Path) -> list[Path]:
    """Complete savepoints under ``savepoint_dir``, oldest first."""
    if not savepoint_dir.is_dir():
        return []
    found = [d for d in savepoint_dir.iterdir() if _SAVEPOINT.fullmatch(d.name) and (d / "_metadata").is_file()]
    return sorted(found, key=lambda d: _taken_ms(d / "_metadata"))


def listed_restore_points(checkpoint_dir: Path, savepoint_dir: Path | None) -> list[RestorePoint]:
    """The newest checkpoint and every savepoint found by listing the (local or mounted) directories."""
    points = []
    checkpoint = latest_checkpoint(checkpoint_dir)
    if checkpoint is not None:
        points.append(RestorePoint(_taken_ms(checkpoint / "_metadata"), str(checkpoint), "checkpoint"))
    for savepoint in savepoints(savepoint_dir) if savepoint_dir is not None else []:
        points.append(RestorePoint(_taken_ms(savepoint / "_metadata"), str(savepoint), "savepoint"))
    return points


def cluster_restore_points(rest: FlinkRestClient, job_name: str) -> list[RestorePoint]:
    """Retained checkpoints and savepoints a session cluster reports for its jobs named ``job_name``
    (running, cancelled, failed or stopped with a savepoint)."""
    points = []
    for job in rest.jobs():
        if job.get("name") != job_name:
            continue
        latest = rest.checkpoints(job["jid"]).get("latest") or {}
        for kind, entry in (("checkpoint", latest.get("completed")), ("savepoint", latest.get("savepoint"))):
            if entry and entry.get("external_path") and entry.get("discarded") is not True:
                points.append(RestorePoint(int(entry.get("latest_ack_timestamp") or 0), entry["external_path"],
                                           kind))  # type: ignore[arg-type]
    return points


def newest_restore_point(settings: Settings, *, job_name: str, checkpoint_dir: Path | str,
                         flink_master: str | None) -> RestorePoint | None:
    """Where a restart of ``job_name`` resumes: the newest of what listing and the session cluster find."""
    points = []
    local = local_path(checkpoint_dir)
    if local is not None:
        points += listed_restore_points(local, local_path(job_state(settings, job_name, "savepoints")))
    master = flink_master or settings.flink.master
    if master not in LOCAL_MASTERS:
        try:
            points += cluster_restore_points(FlinkRestClient(f"http://{master}", timeout_s=10.0), job_name)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.warning("could not ask the Flink cluster at %s for %s's checkpoints: %s", master, job_name, exc)
    return max(points) if points else None


# ------------------------------------------------------------------ keeping the storage small


def prune_other_jobs(checkpoint_dir: Path, keep: Path | None) -> list[Path]:
    """Delete checkpoint folders of older jobs, keeping the job folder of ``keep``.

    Checkpoints are full snapshots (hashmap state backend), so a new job never reads an
    older job's files once it has its own first checkpoint."""
    removed = []
    if not checkpoint_dir.is_dir():
        return removed
    keep_job = keep.parent if keep is not None else None
    for job in checkpoint_dir.iterdir():
        if job.is_dir() and job != keep_job and not any(_CHECKPOINT.fullmatch(c.name) and c == keep
                                                       for c in job.iterdir()):
            shutil.rmtree(job, ignore_errors=True)
            removed.append(job)
    return removed


def prune_savepoints(savepoint_dir: Path, keep: int = KEEP_SAVEPOINTS) -> list[Path]:
    """Delete all but the newest ``keep`` savepoints."""
    old = savepoints(savepoint_dir)[:-keep] if keep else savepoints(savepoint_dir)
    for savepoint in old:
        shutil.rmtree(savepoint, ignore_errors=True)
    return old


# ------------------------------------------------------------------ pipeline options


def checkpoint_args(checkpoint_dir: Path | str, restore_from: Path | str | None, *, embedded: bool, conf_dir: Path,
                    allow_non_restored_state: bool = False) -> list[str]:
    """Pipeline options for retained checkpoints in ``checkpoint_dir``, resuming from ``restore_from``."""
    local = local_path(checkpoint_dir)
    if local is not None:
        local.mkdir(parents=True, exist_ok=True)
    args = ["--state_backend=filesystem", f"--state_backend_storage_path={_uri(checkpoint_dir)}",
            "--externalized_checkpoints_enabled", "--retain_externalized_checkpoints_on_cancellation",
            "--checkpointing_mode=EXACTLY_ONCE"]
    if restore_from is None:
        return args
    restore_local = local_path(restore_from)
    location = str(restore_local.resolve()) if restore_local is not None else str(restore_from)
    if embedded:
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "flink-conf.yaml").write_text(
            f"execution.savepoint.path: {location}\n"
            f"execution.savepoint.ignore-unclaimed-state: {str(allow_non_restored_state).lower()}\n")
        args.append(f"--flink_conf_dir={conf_dir.resolve()}")
    else:
        args.append(f"--savepoint_path={location}")
        if allow_non_restored_state:
            args.append("--allow_non_restored_state")
    return args


def resume_args(settings: Settings, *, job_name: str, checkpoint_dir: Path | str | None, fresh: bool,
                flink_master: str | None) -> tuple[list[str], str | None]:
    """Pipeline options for a streaming job's retained checkpoints, and the checkpoint or savepoint it
    resumes from: the newest restore point (``newest_restore_point``), none when ``fresh``.
    ``checkpoint_dir`` defaults to ``<state root>/checkpoints/<job_name>``. Checkpoints of other
    (older) jobs and all but the newest savepoints are deleted from local storage."""
    checkpoint_dir = checkpoint_dir or job_state(settings, job_name, "checkpoints")
    restore = None if fresh else newest_restore_point(settings, job_name=job_name, checkpoint_dir=checkpoint_dir,
                                                      flink_master=flink_master)
    local = local_path(checkpoint_dir)
    if local is not None:
        if restore is None or restore.kind == "checkpoint":
            # (resuming from a savepoint keeps the checkpoints: the next restart prunes them)
            keep = local_path(restore.location) if restore is not None else None
            prune_other_jobs(local, keep if keep is not None and keep.parent.parent == local else None)
        savepoint_dir = local_path(job_state(settings, job_name, "savepoints"))
        if savepoint_dir is not None:
            prune_savepoints(savepoint_dir)
    master = flink_master or settings.flink.master
    location = restore.location if restore is not None else None
    args = checkpoint_args(checkpoint_dir, location, embedded=master in LOCAL_MASTERS,
                           conf_dir=settings.paths.home / "flink-conf" / job_name)
    return args, location
