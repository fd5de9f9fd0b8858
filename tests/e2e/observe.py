"""Reading what a running platform recorded, straight from its Dagster instance (SQLite under DAGSTER_HOME)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.event_log.base import EventRecordsFilter


@dataclass
class Seen:
    timestamp: float
    metadata: dict


def _latest(instance: dg.DagsterInstance, event_type: dg.DagsterEventType, asset: str,
            partition: str | None = None) -> Seen | None:
    records = instance.get_event_records(
        EventRecordsFilter(event_type=event_type, asset_key=dg.AssetKey(asset),
                           asset_partitions=[partition] if partition else None), limit=1, ascending=False)
    if not records:
        return None
    entry = records[0].event_log_entry
    data = entry.dagster_event.event_specific_data
    event = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
    return Seen(entry.timestamp, {k: v.value for k, v in event.metadata.items()})


def latest_observation(instance: dg.DagsterInstance, asset: str) -> Seen | None:
    return _latest(instance, dg.DagsterEventType.ASSET_OBSERVATION, asset)


def latest_materialization(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> Seen | None:
    return _latest(instance, dg.DagsterEventType.ASSET_MATERIALIZATION, asset, partition)


def latest_check(instance: dg.DagsterInstance, asset: str, check: str) -> tuple[bool, dict] | None:
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=1)
    if not records or records[0].event is None:
        return None
    evaluation = records[0].event.dagster_event.event_specific_data
    return evaluation.passed, {k: v.value for k, v in evaluation.metadata.items()}


def runs_tagged(instance: dg.DagsterInstance, key: str, value: str | None = None) -> list[dg.DagsterRun]:
    tags = {key: value} if value is not None else {}
    runs = instance.get_runs(dg.RunsFilter(tags=tags) if tags else None, limit=200)
    return [r for r in runs if key in r.tags]
