"""The streaming progress files: their one format, written by the service, read by everyone.

Under a local lake, `_status/streams/<query>.json` holds a query's latest
StreamingQueryProgress (Spark's own JSON) and `<query>.jsonl` one compact `BatchLine` per batch
(the last `HISTORY_LINES`). Writing needs no Spark either: the listener in
`streams/progress.py` hands each progress here. Remote lakes have no progress files.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from financelake.config import local_path
from financelake.lake.checkpoints import parse_offset
from financelake.lake.values import integer, number, parse_time

log = logging.getLogger(__name__)
HISTORY_LINES = 2000
_BYTES_PER_LINE = 400  # a history line is about 200 bytes; trim once it is ~2x too long


def progress_dir(lake_root: str) -> Path | None:
    """Where progress files of the lake at `lake_root` live (None for a remote lake)."""
    root = local_path(lake_root)
    return None if root is None else root / "_status" / "streams"


@dataclass(frozen=True)
class BatchLine:
    """One micro-batch of a query, as kept in its `.jsonl` history."""

    timestamp: datetime | None
    batch_id: int | None
    input_rows: int | None
    input_rows_per_s: float | None
    processed_rows_per_s: float | None
    trigger_ms: float | None

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> BatchLine:
        """A line as written (also accepts a whole StreamingQueryProgress)."""
        durations = line.get("durationMs")
        trigger = line.get("triggerMs")
        if trigger is None and isinstance(durations, Mapping):
            trigger = durations.get("triggerExecution")
        return cls(
            timestamp=parse_time(line.get("timestamp")),
            batch_id=integer(line.get("batchId")),
            input_rows=integer(line.get("numInputRows")),
            input_rows_per_s=number(line.get("inputRowsPerSecond")),
            processed_rows_per_s=number(line.get("processedRowsPerSecond")),
            trigger_ms=number(trigger),
        )

    def to_json(self) -> dict[str, Any]:
        """The line as written to `<query>.jsonl` (Spark's key names)."""
        return {
            "timestamp": None if self.timestamp is None else _spark_time(self.timestamp),
            "batchId": self.batch_id,
            "numInputRows": self.input_rows,
            "inputRowsPerSecond": self.input_rows_per_s,
            "processedRowsPerSecond": self.processed_rows_per_s,
            "triggerMs": self.trigger_ms,
        }


@dataclass(frozen=True)
class StreamProgress:
    """A query's latest progress: its last batch and where its first source had read to."""

    batch: BatchLine
    end_offset: Any  # the first source's offset after the batch (parsed JSON), or None
    latest_offset: Any  # the newest offset the source had seen, or None
    durations_ms: Mapping[str, Any]

    @classmethod
    def from_json(cls, progress: Mapping[str, Any]) -> StreamProgress:
        sources = progress.get("sources") or []
        first = sources[0] if sources and isinstance(sources[0], Mapping) else {}
        durations = progress.get("durationMs")
        return cls(
            batch=BatchLine.from_json(progress),
            end_offset=parse_offset(first.get("endOffset")),
            latest_offset=parse_offset(first.get("latestOffset")),
            durations_ms=durations if isinstance(durations, Mapping) else {},
        )


def record_progress(folder: Path, progress: Mapping[str, Any]) -> None:
    """Save one StreamingQueryProgress: the latest file (atomically) and a history line."""
    name = progress.get("name") or progress.get("id", "query")
    _atomic_write(folder / f"{name}.json", json.dumps(progress))
    history = folder / f"{name}.jsonl"
    with history.open("a") as out:
        out.write(json.dumps(BatchLine.from_json(progress).to_json()) + "\n")
    if history.stat().st_size > HISTORY_LINES * _BYTES_PER_LINE:
        lines = history.read_text().splitlines()[-HISTORY_LINES:]
        _atomic_write(history, "\n".join(lines) + "\n")


def read_progress(lake_root: str, query: str) -> StreamProgress | None:
    """The latest progress the service saved for `query`, or None."""
    folder = progress_dir(lake_root)
    if folder is None:
        return None
    try:
        progress = json.loads((folder / f"{query}.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # e.g. caught half-written: report, do not crash
        log.warning("unreadable progress file for stream %s: %s", query, exc)
        return None
    return StreamProgress.from_json(progress) if isinstance(progress, dict) else None


def read_history(lake_root: str, query: str, limit: int = HISTORY_LINES) -> list[BatchLine]:
    """`query`'s batches, oldest first (at most `limit`; malformed lines skipped)."""
    folder = progress_dir(lake_root)
    if folder is None:
        return []
    try:
        lines = (folder / f"{query}.jsonl").read_text().splitlines()[-limit:]
    except FileNotFoundError:
        return []
    batches = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the writer may be mid-line
        if isinstance(row, dict):
            batches.append(BatchLine.from_json(row))
    return batches


def _spark_time(moment: datetime) -> str:
    """Spark's progress time format: UTC, milliseconds, 'Z'."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
