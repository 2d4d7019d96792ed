"""Where each streaming query stands: its last batch, its rate and how far it lags its source.

Figures come from the service's progress file, else from the checkpoint's newest commit. The
lag of the Kafka stream is measured against the topic's live watermarks when Kafka answers,
else against the newest offset Spark saw; Gold's lag is counted in Silver versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from financelake.config import Settings
from financelake.lake.checkpoints import (
    CheckpointState,
    delta_first_unread,
    kafka_offsets,
    read_checkpoint,
)
from financelake.lake.kafka_offsets import TopicOffsets
from financelake.lake.progress import StreamProgress, read_progress
from financelake.lake.read import TableSummary, data_versions
from financelake.lake.values import json_ready

# A checkpoint commit this much later than the progress file's batch means the file is stale.
STALE_PROGRESS_S = 30.0


class StreamSource(StrEnum):
    PROGRESS = "progress"
    CHECKPOINT = "checkpoint"


class LagUnit(StrEnum):
    MESSAGES = "messages"
    VERSIONS = "versions"  # Silver versions, for the Gold stream


class LagSource(StrEnum):
    KAFKA = "kafka"  # the live watermarks
    PROGRESS = "progress"  # the newest offset Spark saw at the last batch
    DELTA_LOG = "delta_log"  # Silver's current version


@dataclass(frozen=True)
class Lag:
    lag: int | None = None
    lag_unit: LagUnit | None = None
    lag_source: LagSource | None = None
    lag_note: str | None = None
    lag_by_partition: dict[int, int] | None = None  # Kafka messages unread per partition


@dataclass(frozen=True)
class StreamStatus:
    """One streaming query in the report (its JSON keys are the field names)."""

    source: StreamSource | None = None
    batch_id: int | None = None
    last_batch: datetime | None = None
    last_batch_age_s: float | None = None
    last_batch_rows: int | None = None
    last_batch_duration_s: float | None = None
    input_rows_per_s: float | None = None
    processed_rows_per_s: float | None = None
    lag: int | None = None
    lag_unit: LagUnit | None = None
    lag_source: LagSource | None = None
    lag_note: str | None = None
    lag_by_partition: dict[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = json_ready(self)
        return result


def stream_status(
    settings: Settings,
    query: str,
    kafka: TopicOffsets,
    tables: Mapping[str, TableSummary],
    now: datetime,
) -> StreamStatus:
    """Last batch, rate and lag of one streaming query.

    `kafka` holds the live watermarks and `tables` the table summaries (for Silver's version).
    """
    progress = read_progress(settings.lake_root, query)
    checkpoint = read_checkpoint(settings, query)
    if progress is not None and checkpoint is not None and _stale(progress, checkpoint):
        progress = None  # e.g. a later `run --available-now` without the progress listener
    end_offset: Any = None
    latest_offset: Any = None
    status = StreamStatus()
    if progress is not None:
        batch = progress.batch
        status = StreamStatus(
            source=StreamSource.PROGRESS,
            batch_id=batch.batch_id,
            last_batch=batch.timestamp,
            last_batch_rows=batch.input_rows,
            last_batch_duration_s=None if batch.trigger_ms is None else batch.trigger_ms / 1000,
            input_rows_per_s=batch.input_rows_per_s,
            processed_rows_per_s=batch.processed_rows_per_s,
        )
        end_offset, latest_offset = progress.end_offset, progress.latest_offset
    elif checkpoint is not None:
        status = StreamStatus(
            source=StreamSource.CHECKPOINT,
            batch_id=checkpoint.batch_id,
            last_batch=checkpoint.committed_at,
        )
        end_offset = checkpoint.offsets[0] if checkpoint.offsets else None
    if status.last_batch is not None:
        age = round(max(0.0, (now - status.last_batch).total_seconds()), 1)
        status = replace(status, last_batch_age_s=age)
    lag = _lag(end_offset, latest_offset, kafka, tables, query, settings.table_path("silver"))
    return replace(status, **asdict(lag))


def _stale(progress: StreamProgress, checkpoint: CheckpointState) -> bool:
    """Whether the checkpoint committed a batch well after the progress file's batch ended."""
    started = progress.batch.timestamp
    if started is None:
        return True
    ended = started.timestamp() + (progress.batch.trigger_ms or 0.0) / 1000
    return checkpoint.committed_at.timestamp() > ended + STALE_PROGRESS_S


def _lag(
    end_offset: Any,
    latest_offset: Any,
    kafka: TopicOffsets,
    tables: Mapping[str, TableSummary],
    query: str,
    silver_path: str,
) -> Lag:
    """How far a stream is behind its source: Kafka messages, or Silver versions for Gold."""
    read = kafka_offsets(end_offset)
    if read is not None:
        if kafka.reachable:
            done = read.get(kafka.topic, {})
            by_partition = {
                p: max(0, high - max(done.get(p, low), low))
                for p, (low, high) in kafka.partitions.items()
            }
            note = (
                None if kafka.topic in read else f"the checkpoint has no offsets of {kafka.topic!r}"
            )
            return Lag(
                sum(by_partition.values()), LagUnit.MESSAGES, LagSource.KAFKA, note, by_partition
            )
        latest = kafka_offsets(latest_offset)
        if latest is not None:
            seen = latest.get(kafka.topic, {})
            done = read.get(kafka.topic, {})
            by_partition = {p: max(0, offset - done.get(p, offset)) for p, offset in seen.items()}
            return Lag(
                sum(by_partition.values()),
                LagUnit.MESSAGES,
                LagSource.PROGRESS,
                "Kafka did not answer; lag as of the last batch",
                by_partition,
            )
        return Lag(lag_unit=LagUnit.MESSAGES, lag_note="Kafka did not answer; lag unknown")
    first_unread = delta_first_unread(end_offset)
    if first_unread is not None:
        silver = tables.get("silver")
        if silver is not None and silver.version is not None:
            lag = data_versions(silver_path, first_unread, silver.version)
            return Lag(lag, LagUnit.VERSIONS, LagSource.DELTA_LOG)
        latest_unread = delta_first_unread(latest_offset)
        if latest_unread is not None:
            return Lag(
                max(0, latest_unread - first_unread),
                LagUnit.VERSIONS,
                LagSource.PROGRESS,
                "Silver not readable; lag as of the last batch",
            )
    if end_offset is None:
        return Lag(lag_note=f"no progress file or checkpoint for stream {query!r} yet")
    return Lag(lag_note="unrecognised source offset")
