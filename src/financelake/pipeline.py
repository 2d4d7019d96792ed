"""Start and await the streaming queries: Kafka -> Bronze/Silver/Quarantine -> Gold."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from financelake.config import Settings
from financelake.errors import LakeError, StreamFailedError
from financelake.kafka.client import require_topic
from financelake.streams.gold import start_gold
from financelake.streams.ingest import start_ingest
from financelake.streams.sinks import Lake

log = logging.getLogger(__name__)


def preflight(settings: Settings) -> None:
    """Fail fast, with a clear message, on an unwritable lake or an unreachable broker/topic."""
    if settings.is_local_lake:
        root = Path(settings.lake_root)
        probe = root / f".write-probe-{uuid.uuid4().hex}"
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise LakeError(
                f"the lake root {root} is not writable ({exc.strerror}); "
                "choose another with --lake-root or FINANCELAKE_LAKE_ROOT"
            ) from exc
    require_topic(settings)


def await_query(query: StreamingQuery) -> None:
    """Wait for a query to end; raise StreamFailedError if it failed."""
    query.awaitTermination()
    error = query.exception()
    if error is not None:
        raise StreamFailedError(f"stream {query.name!r} failed: {error}")


def run_available_now(spark: SparkSession, settings: Settings) -> None:
    """Process everything currently in the topic through every layer, then return.

    Gold runs beside ingest (an availableNow Gold would stop at the Silver it found on start),
    folding Silver commits as they land; once ingest has drained the topic, Gold processes the
    last Silver commits and stops between micro-batches.
    """
    Lake.at(spark, settings).setup()
    gold = start_gold(spark, settings, available_now=False, interval=settings.trigger_interval)
    try:
        await_query(start_ingest(spark, settings, available_now=True))
        gold.processAllAvailable()
    finally:
        gold.stop()
    log.info("drained topic %s into %s", settings.topic, settings.lake_root)


def start_streams(spark: SparkSession, settings: Settings) -> list[StreamingQuery]:
    """Start the continuous queries; they run until stopped."""
    Lake.at(spark, settings).setup()
    return [
        start_ingest(spark, settings, available_now=False),
        start_gold(spark, settings, available_now=False),
    ]
