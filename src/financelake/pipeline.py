"""Start and await the streaming queries: Kafka -> Bronze/Silver/Quarantine -> Gold."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from financelake.catalog import GOLD_QUERY, INGEST_QUERY
from financelake.config import Settings
from financelake.errors import KafkaUnavailableError, LakeError, StreamFailedError
from financelake.kafka.client import require_topic
from financelake.maintenance import apply_retention_properties
from financelake.streams.checkpoints import require_checkpoints
from financelake.streams.gold import start_gold
from financelake.streams.ingest import start_ingest
from financelake.streams.sinks import Lake

log = logging.getLogger(__name__)


def preflight(settings: Settings) -> None:
    """Fail fast, with a clear message, on an unwritable lake or an unreachable broker/topic."""
    require_writable_lake(settings)
    require_topic(settings)


# How long one look for the broker and topic may take while waiting for them.
_WAIT_PROBE_S = 2.0


def wait_for_topic(settings: Settings, stop: threading.Event) -> bool:
    """Wait until the broker answers and the topic exists (or `stop` is set: returns False).

    A continuous `run` may start before the producer created the topic, or before the broker is
    up (two terminals, or compose starting services in any order). Kafka has no notification
    for a new topic, so this asks again every few seconds, saying what it waits for.
    """
    from financelake.service_state import ServiceState, write_state

    probe = settings.model_copy(update={"kafka_timeout_s": _WAIT_PROBE_S})
    said = ""
    while not stop.is_set():
        try:
            require_topic(probe)
            return True
        except KafkaUnavailableError as exc:
            if str(exc) != said:
                said = str(exc)
                log.warning("waiting for Kafka: %s", said)
                write_state(
                    settings.lake_root, ServiceState.WAITING, said, local=settings.is_local_lake
                )
        stop.wait(_WAIT_PROBE_S)
    return False


def require_writable_lake(settings: Settings) -> None:
    """A clear error, before Spark starts, when the lake root cannot be written."""
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


def await_query(query: StreamingQuery) -> None:
    """Wait for a query to end; raise StreamFailedError if it failed."""
    query.awaitTermination()
    error = query.exception()
    if error is not None:
        raise StreamFailedError(f"stream {query.name!r} failed: {error}")


def prepare_lake(spark: SparkSession, settings: Settings) -> None:
    """Create missing tables, refuse lost checkpoints, set retention properties: all before
    any stream writes."""
    Lake.at(spark, settings).setup()
    require_checkpoints(spark, settings, {INGEST_QUERY: "bronze", GOLD_QUERY: "gold"})
    apply_retention_properties(spark, settings)


def run_available_now(spark: SparkSession, settings: Settings) -> None:
    """Process everything currently in the topic through every layer, then return.

    Gold runs beside ingest (an availableNow Gold would stop at the Silver it found on start),
    folding Silver commits as they land; once ingest has drained the topic, Gold processes the
    last Silver commits and stops between micro-batches.
    """
    prepare_lake(spark, settings)
    gold = start_gold(spark, settings, available_now=False, interval=settings.trigger_interval)
    try:
        await_query(start_ingest(spark, settings, available_now=True))
        gold.processAllAvailable()
    finally:
        gold.stop()
    log.info("drained topic %s into %s", settings.topic, settings.lake_root)


def start_streams(spark: SparkSession, settings: Settings) -> list[StreamingQuery]:
    """Start the continuous queries; they run until stopped."""
    prepare_lake(spark, settings)
    return [
        start_ingest(spark, settings, available_now=False),
        start_gold(spark, settings, available_now=False),
    ]
