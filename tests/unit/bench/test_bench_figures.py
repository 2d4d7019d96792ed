"""The bench's figures come from structured files: the progress files of a drain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.latency import _shutdown_kind
from bench.throughput import _query_seconds, batches_span_s
from financelake.lake.progress import progress_dir, record_progress


def _batch(query: str, second: int, trigger_ms: int, rows: int) -> dict[str, Any]:
    return {
        "name": query,
        "timestamp": f"2026-01-02T09:00:{second:02d}.000Z",
        "batchId": second,
        "numInputRows": rows,
        "durationMs": {"triggerExecution": trigger_ms},
    }


def test_a_drain_spans_from_the_first_batch_start_to_the_last_batch_end(tmp_path: Path) -> None:
    folder = progress_dir(str(tmp_path))
    assert folder is not None
    folder.mkdir(parents=True)
    for progress in (
        _batch("ingest", 1, 2_000, 600),
        _batch("ingest", 3, 1_500, 400),
        _batch("gold", 5, 2_500, 1_000),
    ):
        record_progress(folder, progress)

    assert batches_span_s(str(tmp_path)) == 5 + 2.5 - 1
    queries = _query_seconds(str(tmp_path))
    assert queries["ingest"]["batches"] == 2
    assert queries["ingest"]["rows"] == 1_000
    assert queries["ingest"]["trigger_s"] == 3.5
    assert queries["gold"]["last_batch_ms"] == {"triggerExecution": 2_500}


def test_no_progress_means_no_drain_figure(tmp_path: Path) -> None:
    assert batches_span_s(str(tmp_path)) is None
    assert _query_seconds(str(tmp_path)) == {}


def test_how_the_service_stopped_follows_its_exit_code_and_time() -> None:
    assert _shutdown_kind(1.0, 0).startswith("graceful")
    assert _shutdown_kind(29.5, 0).startswith("forced by its shutdown watchdog")
    assert _shutdown_kind(60.0, -9).startswith("killed")
    assert _shutdown_kind(2.0, 1) == "exit code 1"
