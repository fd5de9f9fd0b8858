"""Where a restarted job resumes, on the storage layout the Helm chart mounts (a ReadWriteMany volume
at ``flink.state_dir``): the newest complete checkpoint or savepoint, whatever job id wrote it.

The folders are laid out by hand the way Flink writes them (``<job id>/chk-<n>/_metadata`` for
retained checkpoints, ``savepoint-<6 hex>-<12 hex>/_metadata`` for stop-with-savepoint) with
modification times set explicitly, so which one wins is worked out here, not by the code.
"""

from __future__ import annotations

import os
from pathlib import Path

from streaming.jobs.checkpoints import job_state, resume_args
from tradestream.settings import FlinkSettings, PathSettings, Settings

JOB = "candles_stream"
T0 = 1_760_000_000  # seconds; each point is placed at T0 + its age rank


def settings_on_volume(tmp_path: Path) -> Settings:
    volume = tmp_path / "flink-state"  # the chart's /var/lib/tradestream/flink-state
    return Settings(paths=PathSettings(home=tmp_path / "home"),
                    flink=FlinkSettings(state_dir=volume.as_uri()))


def complete(folder: Path, at: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "_metadata").write_bytes(b"flink")
    os.utime(folder / "_metadata", (T0 + at, T0 + at))
    return folder


def layout(settings: Settings) -> tuple[Path, Path]:
    root = Path(settings.flink.state_dir.removeprefix("file://"))
    return root / "checkpoints" / JOB, root / "savepoints" / JOB


def restore(settings: Settings, *, fresh: bool = False) -> tuple[list[str], str | None]:
    return resume_args(settings, job_name=JOB, checkpoint_dir=None, fresh=fresh, flink_master="[local]")


def test_the_newest_checkpoint_of_any_earlier_job_is_resumed_and_older_jobs_are_pruned(tmp_path):
    settings = settings_on_volume(tmp_path)
    checkpoints, _ = layout(settings)
    complete(checkpoints / "a" / "chk-7", at=1)  # the job before the last restart
    newest = complete(checkpoints / "b" / "chk-3", at=5)       # the last job (a new id, counting again)
    (checkpoints / "b" / "chk-4").mkdir()                      # being written when the pod died: no _metadata
    complete(checkpoints / "b" / "chk-2", at=3)

    args, location = restore(settings)

    assert location == str(newest)
    conf = (settings.paths.home / "flink-conf" / JOB / "flink-conf.yaml").read_text()
    assert f"execution.savepoint.path: {newest.resolve()}" in conf
    assert f"--state_backend_storage_path={job_state(settings, JOB, 'checkpoints')}" in args
    assert sorted(p.name for p in checkpoints.iterdir()) == ["b"]


def test_a_savepoint_newer_than_every_checkpoint_wins_and_only_three_are_kept(tmp_path):
    """An upgrade stops the job with a savepoint: the new job resumes from it."""
    settings = settings_on_volume(tmp_path)
    checkpoints, savepoints = layout(settings)
    complete(checkpoints / "a" / "chk-9", at=4)
    names = [f"savepoint-{i:06x}-{i:012x}" for i in range(1, 6)]
    for age, name in enumerate(names):
        complete(savepoints / name, at=age + 1)               # the last one (age 5) is the newest of all
    (savepoints / "savepoint-ffffff-ffffffffffff").mkdir()     # unfinished: ignored

    _, location = restore(settings)

    assert location == str(savepoints / names[-1])
    assert sorted(p.name for p in savepoints.iterdir()) == sorted([*names[-3:], "savepoint-ffffff-ffffffffffff"])
    assert (checkpoints / "a" / "chk-9").is_dir()  # kept until the resumed job has checkpoints of its own


def test_fresh_and_empty_storage_start_without_restore(tmp_path):
    settings = settings_on_volume(tmp_path)
    checkpoints, _ = layout(settings)
    assert restore(settings)[1] is None
    complete(checkpoints / "a" / "chk-1", at=1)
    args, location = restore(settings, fresh=True)
    assert location is None and not any(a.startswith("--flink_conf_dir") for a in args)
