"""Where a job's Flink checkpoints live, and how a restart resumes from them (candle and signal job).

Flink writes ``<dir>/<flink job id>/chk-<n>/_metadata`` for every completed checkpoint and
keeps them after the job is cancelled or killed (externalized, retained). A restart
resumes from the newest one: with a session cluster through Beam's ``--savepoint_path``;
with the embedded mini-cluster Beam ignores that option (it only reaches
RemoteStreamEnvironment in Beam 2.62), so the path goes into a Flink configuration
directory (``execution.savepoint.path``) passed with ``--flink_conf_dir``.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from tradestream.settings import Settings

log = logging.getLogger(__name__)

LOCAL_MASTERS = ("[local]", "[auto]")

_CHECKPOINT = re.compile(r"chk-(\d+)")


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


def checkpoint_args(checkpoint_dir: Path, restore_from: Path | None, *, embedded: bool, conf_dir: Path,
                    allow_non_restored_state: bool = False) -> list[str]:
    """Pipeline options for retained checkpoints in ``checkpoint_dir``, resuming from ``restore_from``."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    args = ["--state_backend=filesystem", f"--state_backend_storage_path={checkpoint_dir.resolve().as_uri()}",
            "--externalized_checkpoints_enabled", "--retain_externalized_checkpoints_on_cancellation",
            "--checkpointing_mode=EXACTLY_ONCE"]
    if restore_from is None:
        return args
    if embedded:
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "flink-conf.yaml").write_text(
            f"execution.savepoint.path: {restore_from.resolve()}\n"
            f"execution.savepoint.ignore-unclaimed-state: {str(allow_non_restored_state).lower()}\n")
        args.append(f"--flink_conf_dir={conf_dir.resolve()}")
    else:
        args.append(f"--savepoint_path={restore_from.resolve()}")
        if allow_non_restored_state:
            args.append("--allow_non_restored_state")
    return args


def resume_args(settings: Settings, *, job_name: str, checkpoint_dir: Path | None, fresh: bool,
                flink_master: str | None) -> tuple[list[str], Path | None]:
    """Pipeline options for a streaming job's retained checkpoints, and the checkpoint it resumes
    from: the newest one in ``checkpoint_dir`` (default ``<home>/checkpoints/<job_name>``), none
    when ``fresh``. Checkpoints of other (older) jobs are deleted."""
    checkpoint_dir = checkpoint_dir or settings.paths.home / "checkpoints" / job_name
    restore = None if fresh else latest_checkpoint(checkpoint_dir)
    prune_other_jobs(checkpoint_dir, restore)
    master = flink_master or settings.flink.master
    args = checkpoint_args(checkpoint_dir, restore, embedded=master in LOCAL_MASTERS,
                           conf_dir=settings.paths.home / "flink-conf" / job_name)
    return args, restore
