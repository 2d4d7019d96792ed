"""Publish each streaming query's progress as small JSON files under the lake root.

`status` and the dashboard read these without a JVM: `_status/streams/<query>.json` holds the
latest progress, `<query>.jsonl` one compact line per batch (the last few thousand).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryListener,
)

log = logging.getLogger(__name__)
HISTORY_LINES = 2000


def progress_dir(lake_root: str) -> Path:
    return Path(lake_root) / "_status" / "streams"


class ProgressFiles(StreamingQueryListener):
    """A listener that writes each query's latest progress (local lakes only)."""

    def __init__(self, lake_root: str) -> None:
        self._dir = progress_dir(lake_root)
        self._dir.mkdir(parents=True, exist_ok=True)

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        pass

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        pass

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        progress: dict[str, Any] = json.loads(event.progress.json)
        name = progress.get("name") or progress.get("id", "query")
        try:
            _atomic_write(self._dir / f"{name}.json", json.dumps(progress))
            line = {
                "timestamp": progress.get("timestamp"),
                "batchId": progress.get("batchId"),
                "numInputRows": progress.get("numInputRows"),
                "inputRowsPerSecond": progress.get("inputRowsPerSecond"),
                "processedRowsPerSecond": progress.get("processedRowsPerSecond"),
                "triggerMs": progress.get("durationMs", {}).get("triggerExecution"),
            }
            self._append_history(self._dir / f"{name}.jsonl", json.dumps(line))
        except OSError as exc:  # progress files are a convenience; never fail a stream over them
            log.warning("could not write progress of %s: %s", name, exc)

    @staticmethod
    def _append_history(path: Path, line: str) -> None:
        with path.open("a") as history:
            history.write(line + "\n")
        if path.stat().st_size > HISTORY_LINES * 400:
            lines = path.read_text().splitlines()[-HISTORY_LINES:]
            _atomic_write(path, "\n".join(lines) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
