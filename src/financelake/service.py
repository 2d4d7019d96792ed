"""The long-running runner: streams, a training cycle every interval, and a clean shutdown.

Shutdown (SIGINT/SIGTERM) is bounded by SHUTDOWN_BUDGET_S: streams get a few seconds to finish
the micro-batch in flight, then stop (a stopped batch is replayed idempotently on restart); a
training cycle in flight is abandoned before it writes anything, and its Spark jobs are
cancelled; then Spark stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from financelake.broker_watch import BrokerWatch
from financelake.children import stop_signals
from financelake.config import Settings
from financelake.errors import StreamFailedError
from financelake.metrics import MetricsServer, serve_metrics
from financelake.pipeline import (
    is_transient,
    preflight,
    require_writable_lake,
    run_available_now,
    start_stream,
    start_streams,
    stream_failure,
    wait_for_topic,
)
from financelake.service_state import ServiceState, write_state
from financelake.spark import SPARK_PROMETHEUS_PATH, TRAINING_POOL, build_spark, use_pool
from financelake.streams.progress import ProgressFiles

log = logging.getLogger(__name__)
_TRAINING_JOBS = "training"  # job group: cancelled at shutdown

SHUTDOWN_BUDGET_S = 30.0
MAX_RESTARTS = 5  # transient query failures a run rides out before it stops with the error
_BATCH_GRACE_S = 10.0


def run_pipeline(settings: Settings, *, available_now: bool, train: bool = True) -> int:
    """`financelake run`: drain and exit, or run continuously until SIGINT/SIGTERM.

    A drain fails fast without its broker or topic; a continuous run waits for them, and
    serves its Prometheus metrics from the start (a scrape then shows Kafka down)."""
    if available_now:
        preflight(settings)
    else:
        require_writable_lake(settings)
    with _metrics_served(settings, serve=not available_now) as metrics:
        if not available_now:
            stop = threading.Event()
            with stop_signals(lambda *_: stop.set()):
                if not wait_for_topic(settings, stop):
                    return 0
        spark = build_spark(settings)
        try:
            if settings.is_local_lake:
                spark.streams.addListener(ProgressFiles(settings.lake_root))
            if available_now:
                run_available_now(spark, settings)
                return 0
            metrics_url = None if metrics is None else metrics.url
            return Service(spark, settings, train=train, metrics_url=metrics_url).run()
        finally:
            spark.stop()


def maintain_once(settings: Settings) -> int:
    """`financelake maintain`: the service's maintenance now (0 when every step worked)."""
    from financelake.maintenance import (
        apply_retention_properties,
        partition_predictions,
        run_maintenance,
    )

    spark = build_spark(settings)
    try:
        apply_retention_properties(spark, settings)
        partition_predictions(spark, settings)
        run = run_maintenance(spark, settings)
        print(run.summary())
        return 0 if run.ok else 1
    finally:
        spark.stop()


def train_once(settings: Settings, as_of_version: int | None = None) -> int:
    """`financelake train`: one training cycle (classifier, then trader) now."""
    from financelake.maintenance import partition_predictions
    from financelake.training import run_training_cycle

    spark = build_spark(settings)
    try:
        partition_predictions(spark, settings)  # an older lake's, before this run appends
        result = run_training_cycle(spark, settings, as_of_version=as_of_version)
        log.info("%s", result.summary())
        print(result.summary())
        return 0
    finally:
        spark.stop()


class Service:
    """Streams plus a training thread; `run` returns the process exit code."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        *,
        train: bool = True,
        metrics_url: str | None = None,
    ) -> None:
        self._spark = spark
        self._settings = settings
        self._train = train
        self._metrics_url = metrics_url
        self._stop = threading.Event()
        self._writing = threading.Lock()  # held while a training cycle writes its results
        self._restarts = 0  # of queries failed on a transient error (`pipeline.is_transient`)

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        if not self._stop.is_set():
            log.info("stopping (signal %s); this takes at most %.0f s", signum, SHUTDOWN_BUDGET_S)
            # The bound holds even if a micro-batch or Spark itself will not stop in time:
            # exiting then is as safe as a crash, since every write is idempotent on replay.
            watchdog = threading.Timer(SHUTDOWN_BUDGET_S - 2, _exit_now)
            watchdog.daemon = True
            watchdog.start()
        self._stop.set()

    def run(self) -> int:
        with stop_signals(self.request_stop):
            return self._run_streams()

    def _run_streams(self) -> int:
        queries = start_streams(self._spark, self._settings)
        spark_ui_url = self._spark.sparkContext.uiWebUrl
        write_state(
            self._settings.lake_root,
            ServiceState.RUNNING,
            local=self._settings.is_local_lake,
            spark_ui_url=spark_ui_url,
            metrics_url=self._metrics_url,
        )
        if spark_ui_url:
            log.info(
                "Spark UI at %s (its Prometheus metrics at %s%s)",
                spark_ui_url,
                spark_ui_url,
                SPARK_PROMETHEUS_PATH,
            )
        else:
            log.info("Spark UI is off (--spark-ui turns it on)")
        # records a broker outage in the status
        broker_watch = BrokerWatch(
            self._settings, spark_ui_url=spark_ui_url, metrics_url=self._metrics_url
        )
        broker_watch.start()
        trainer = threading.Thread(target=self._training_loop, name="training", daemon=True)
        trainer.start()
        log.info(
            "running: %s; training every %.0f s; Ctrl+C to stop",
            ", ".join(q.name for q in queries),
            self._settings.train_interval_s,
        )
        exit_code = 0
        try:
            while not self._stop.is_set():
                # It re-raises a failed query's error as a raw traceback; the failed query is
                # found below instead, and its error explained (a full disk, say).
                with contextlib.suppress(StreamingQueryException):
                    self._spark.streams.awaitAnyTermination(1)  # seconds
                for index, query in enumerate(queries):
                    if not query.isActive:
                        queries[index] = self._restart(query)
        except StreamFailedError:
            exit_code = 1
            self._stop.set()
            raise
        finally:
            broker_watch.stop()
            self._shutdown(queries, trainer)
            write_state(
                self._settings.lake_root, ServiceState.STOPPED, local=self._settings.is_local_lake
            )
        return exit_code

    def _restart(self, failed: StreamingQuery) -> StreamingQuery:
        """Start a failed query again when its error is a transient one (a bounded number of
        times per run); otherwise stop the service with the error explained."""
        error = failed.exception()
        if not is_transient(error) or self._restarts >= MAX_RESTARTS:
            raise stream_failure(failed, self._settings)
        self._restarts += 1
        log.warning(
            "stream %s failed on a transient error; restarting it from its checkpoint "
            "(%d of %d restarts): %s",
            failed.name,
            self._restarts,
            MAX_RESTARTS,
            str(error).splitlines()[0],
        )
        return start_stream(self._spark, self._settings, str(failed.name))

    # Training -------------------------------------------------------------------------------
    def _training_loop(self) -> None:
        from financelake.maintenance import run_maintenance
        from financelake.training import run_training_cycle

        sc = self._spark.sparkContext
        use_pool(self._spark, TRAINING_POOL)
        last_maintenance = time.monotonic()
        # Waiting on the stop event, not sleeping: a stop request ends the wait at once. A cycle
        # that overruns simply delays the next one; cycles never overlap.
        while not self._stop.wait(self._settings.train_interval_s):
            sc.setJobGroup(_TRAINING_JOBS, "training cycle", interruptOnCancel=True)
            try:
                if self._train:
                    result = run_training_cycle(
                        self._spark, self._settings, should_stop=self._stop.is_set
                    )
                    log.info("training cycle: %s", result.summary())
                # Maintenance shares this thread with training, so the two never overlap.
                if time.monotonic() - last_maintenance >= self._settings.compact_interval_s:
                    run_maintenance(self._spark, self._settings)
                    last_maintenance = time.monotonic()
            except Exception as exc:  # a failing cycle must not take the service down
                if self._stop.is_set():
                    log.info("training cycle abandoned for shutdown")
                else:
                    log.exception("training cycle failed: %s", exc)

    # Shutdown -------------------------------------------------------------------------------
    def _shutdown(self, queries: list[StreamingQuery], trainer: threading.Thread) -> None:
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S - 5
        for query in queries:
            _stop_after_batch(query, min(deadline, time.monotonic() + _BATCH_GRACE_S))
        if trainer.is_alive():
            trainer.join(timeout=max(0.0, deadline - time.monotonic()))
            if trainer.is_alive():
                log.warning("training cycle still running; cancelling its Spark jobs")
                self._spark.sparkContext.cancelJobGroup(_TRAINING_JOBS)
                trainer.join(timeout=3)
        log.info("streams stopped")


@contextmanager
def _metrics_served(settings: Settings, *, serve: bool) -> Iterator[MetricsServer | None]:
    """While inside, `/metrics` is served (if `serve` and a metrics port is set)."""
    server = serve_metrics(settings) if serve else None
    if server is not None:
        log.info("Prometheus metrics at %s", server.url)
    try:
        yield server
    finally:
        if server is not None:
            server.close()


def _exit_now() -> None:
    log.warning(
        "shutdown took longer than %.0f s; exiting now. The micro-batch in flight will be "
        "replayed from the checkpoint on restart (nothing is lost or duplicated).",
        SHUTDOWN_BUDGET_S,
    )
    logging.shutdown()
    os._exit(0)


def _stop_after_batch(query: StreamingQuery, deadline: float) -> None:
    """Let the micro-batch in flight commit (until the deadline), then stop the query."""
    if query.isActive:
        _wait_until(lambda: not query.status.get("isTriggerActive", False), deadline)
    if query.isActive and query.status.get("isTriggerActive", False):
        log.info(
            "stream %s: the batch in flight did not finish in time and is interrupted; it is "
            "replayed from the checkpoint on restart",
            query.name,
        )
        # Interrupting it fails the foreachBatch call inside it on purpose; py4j would log that
        # as an error with a traceback, which here says nothing the line above does not.
        logging.getLogger("py4j.clientserver").setLevel(logging.CRITICAL)
    query.stop()


def _wait_until(condition: Callable[[], bool], deadline: float) -> None:
    done = threading.Event()
    while not condition() and time.monotonic() < deadline:
        done.wait(0.1)  # poll the query's status; there is no event to block on
