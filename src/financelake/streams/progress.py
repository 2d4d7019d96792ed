"""A Spark listener that saves each streaming query's progress for JVM-free readers.

The files and their format belong to `financelake.lake.progress`; this module only connects
Spark's progress events to it.
"""

from __future__ import annotations

import json
import logging

from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryListener,
)

from financelake.errors import LakeError
from financelake.lake.progress import progress_dir, record_progress

log = logging.getLogger(__name__)


class ProgressFiles(StreamingQueryListener):
    """A listener that writes each query's latest progress (local lakes only)."""

    def __init__(self, lake_root: str) -> None:
        folder = progress_dir(lake_root)
        if folder is None:
            raise LakeError(f"progress files need a local lake; {lake_root} is remote")
        folder.mkdir(parents=True, exist_ok=True)
        self._dir = folder

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        pass

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        pass

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        progress = json.loads(event.progress.json)
        try:
            record_progress(self._dir, progress)
        except OSError as exc:  # progress files are a convenience; never fail a stream over them
            log.warning("could not write progress of %s: %s", progress.get("name"), exc)
