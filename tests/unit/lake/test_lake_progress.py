"""The progress files: what the listener records is what status, the dashboard and bench read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from financelake.lake import progress
from financelake.lake.progress import (
    BatchLine,
    progress_dir,
    read_history,
    read_progress,
    record_progress,
)


def _progress(batch: int, rows: int = 10) -> dict[str, Any]:
    return {
        "id": "q",
        "name": "ingest",
        "timestamp": f"2026-01-02T09:00:{batch:02d}.250Z",
        "batchId": batch,
        "numInputRows": rows,
        "inputRowsPerSecond": 5.0,
        "processedRowsPerSecond": 50.0,
        "durationMs": {"triggerExecution": 200, "addBatch": 150},
        "sources": [
            {"endOffset": json.dumps({"ticks": {"0": batch}}), "latestOffset": {"ticks": {"0": 9}}}
        ],
    }


@pytest.fixture
def lake(tmp_path: Path) -> str:
    folder = progress_dir(str(tmp_path))
    assert folder is not None
    folder.mkdir(parents=True)
    return str(tmp_path)


def test_recorded_progress_reads_back_typed(lake: str) -> None:
    folder = progress_dir(lake)
    assert folder is not None
    for batch in range(3):
        record_progress(folder, _progress(batch, rows=10 * batch))

    latest = read_progress(lake, "ingest")
    history = read_history(lake, "ingest")

    assert latest is not None
    assert latest.batch.batch_id == 2
    assert latest.batch.timestamp == datetime(2026, 1, 2, 9, 0, 2, 250_000, tzinfo=UTC)
    assert latest.end_offset == {"ticks": {"0": 2}}  # text form parsed
    assert latest.latest_offset == {"ticks": {"0": 9}}
    assert latest.durations_ms["addBatch"] == 150
    assert [b.batch_id for b in history] == [0, 1, 2]
    assert [b.input_rows for b in history] == [0, 10, 20]
    assert {b.trigger_ms for b in history} == {200.0}


def test_a_history_line_round_trips_in_sparks_time_format() -> None:
    line = BatchLine.from_json(_progress(7))

    written = line.to_json()

    assert written["timestamp"] == "2026-01-02T09:00:07.250Z"
    assert written["triggerMs"] == 200.0
    assert BatchLine.from_json(written) == line


def test_a_half_written_line_is_skipped_and_the_history_is_trimmed(
    lake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "HISTORY_LINES", 5)
    folder = progress_dir(lake)
    assert folder is not None
    for batch in range(40):
        record_progress(folder, _progress(batch))
    with (folder / "ingest.jsonl").open("a") as out:
        out.write('{"timestamp": "2026-01-0')

    history = read_history(lake, "ingest")

    assert 5 <= len(history) < 40
    assert history[-1].batch_id == 39


def test_missing_or_remote_progress_reads_as_nothing(tmp_path: Path) -> None:
    assert read_progress(str(tmp_path), "gold") is None
    assert read_history(str(tmp_path), "gold") == []
    assert progress_dir("s3a://bucket/lake") is None
    assert read_progress("s3a://bucket/lake", "gold") is None
