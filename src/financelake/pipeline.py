"""Start and await the streaming queries: Kafka -> Bronze/Silver/Quarantine -> Gold."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from financelake.broker_watch import PROBE_S, kafka_problem
from financelake.catalog import GOLD_QUERY, INGEST_QUERY
from financelake.config import Settings
from financelake.errors import LakeError, StreamFailedError
from financelake.kafka.client import require_topic
from financelake.maintenance import apply_retention_properties, partition_predictions
from financelake.streams.checkpoints import require_checkpoints
from financelake.streams.gold import start_gold
from financelake.streams.ingest import start_ingest
from financelake.streams.sinks import Lake

log = logging.getLogger(__name__)


def preflight(settings: Settings) -> None:
    """Fail fast, with a clear message, on an unwritable lake or an unreachable broker/topic."""
    require_writable_lake(settings)
    require_topic(settings)


def wait_for_topic(settings: Settings, stop: threading.Event) -> bool:
    """Wait until the broker answers and the topic exists (or `stop` is set: returns False).

    A continuous `run` may start before the producer created the topic, or before the broker is
    up (two terminals, or compose starting services in any order). Kafka has no notification
    for a new topic, so this asks again every few seconds, saying what it waits for.
    """
    from financelake.service_state import ServiceState, write_state

    said = ""
    while not stop.is_set():
        problem = kafka_problem(settings)
        if problem is None:
            return True
        if problem != said:
            said = problem
            log.warning("waiting for Kafka: %s", said)
            write_state(
                settings.lake_root, ServiceState.WAITING, said, local=settings.is_local_lake
            )
        stop.wait(PROBE_S)
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


def await_query(query: StreamingQuery, settings: Settings) -> None:
    """Wait for a query to end; raise StreamFailedError if it failed."""
    query.awaitTermination()
    if query.exception() is not None:
        raise stream_failure(query, settings)


# How the JVM words ENOSPC, wherever in a failed write it surfaces.
_DISK_FULL = "No space left on device"


def stream_failure(query: StreamingQuery, settings: Settings) -> StreamFailedError:
    """The error for a query that stopped, saying what to do when the cause is a known one.

    A full disk fails whichever write comes first (a data file, a Delta commit, the checkpoint),
    deep inside a Spark stack trace; the batch in flight is then uncommitted and is replayed,
    exactly once, by the next start.
    """
    error = query.exception()
    if error is not None and _DISK_FULL in str(error):
        return StreamFailedError(
            f"stream {query.name!r} stopped: the disk holding the lake {settings.lake_root} is "
            f"full (ENOSPC: {_DISK_FULL}). Free space on it (or move the whole lake folder, "
            "checkpoints included, to a larger disk and point --lake-root there), then start "
            "again: the interrupted batch is replayed from the checkpoint, exactly once."
        )
    return StreamFailedError(
        f"stream {query.name!r} stopped: "
        f"{error if error else 'without an error (stopped from outside)'}"
    )


def prepare_lake(spark: SparkSession, settings: Settings) -> None:
    """Create missing tables, refuse lost checkpoints, set retention properties, partition an
    older lake's predictions: all before any stream or training cycle writes."""
    created = Lake.at(spark, settings).setup()
    # A table this start created holds nothing to duplicate: no checkpoint check (a Spark job).
    written_by = {INGEST_QUERY: "bronze", GOLD_QUERY: "gold"}
    require_checkpoints(
        spark, settings, {query: name for query, name in written_by.items() if name not in created}
    )
    apply_retention_properties(spark, settings)
    partition_predictions(spark, settings)


def run_available_now(spark: SparkSession, settings: Settings) -> None:
    """Process everything currently in the topic through every layer, then return.

    Gold runs beside ingest (an availableNow Gold would stop at the Silver it found on start),
    folding Silver commits as they land; once ingest has drained the topic, Gold processes the
    last Silver commits and stops between micro-batches.
    """
    prepare_lake(spark, settings)
    gold = start_gold(spark, settings, available_now=False, interval=settings.trigger_interval)
    try:
        await_query(start_ingest(spark, settings, available_now=True), settings)
        gold.processAllAvailable()
    finally:
        gold.stop()
    log.info("drained topic %s into %s", settings.topic, settings.lake_root)


def start_streams(spark: SparkSession, settings: Settings) -> list[StreamingQuery]:
    """Start the continuous queries; they run until stopped."""
    prepare_lake(spark, settings)
    return [start_stream(spark, settings, name) for name in (INGEST_QUERY, GOLD_QUERY)]


def start_stream(spark: SparkSession, settings: Settings, name: str) -> StreamingQuery:
    """Start one continuous query by its name, from its checkpoint (also to restart it)."""
    if name == INGEST_QUERY:
        return start_ingest(spark, settings, available_now=False)
    if name == GOLD_QUERY:
        return start_gold(spark, settings, available_now=False)
    raise ValueError(f"no stream named {name!r}")


# Spark gives a new Python worker a fixed 10 s to connect back (PythonWorkerFactory; not a
# setting). On a saturated machine Gold's stateful worker can miss it: the query fails though
# nothing is wrong with the data. Such a failure is worth a restart from the checkpoint, which
# is exactly once (Delta transaction ids, the replay check), not the end of the service.
_TRANSIENT = ("Python worker failed to connect back", "waiting for the Python worker to connect")


def is_transient(error: object) -> bool:
    """Whether a query's error is one a restart from its checkpoint can cure."""
    return error is not None and any(text in str(error) for text in _TRANSIENT)
