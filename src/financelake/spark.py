"""The only SparkSession builder: local or cluster master, Delta Lake, jars from local disk."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from financelake.class_archive import usable_archive
from financelake.config import Settings
from financelake.errors import SetupError

log = logging.getLogger(__name__)

# FAIR scheduler pools, defined with their weights in scheduler-pools.xml.
INGEST_POOL = "ingest"
GOLD_POOL = "gold"
TRAINING_POOL = "training"
_POOLS_FILE = Path(__file__).with_name("scheduler-pools.xml")

SPARK_PROMETHEUS_PATH = "/metrics/prometheus"
"""Where Spark's UI serves the driver's metrics in Prometheus format."""
_SERVLET_SINK = "spark.metrics.conf.*.sink.prometheusServlet"


def spark_jars(jars_dir: Path) -> list[str]:
    """The Delta and Kafka-connector jars resolved at set-up (never downloaded at run time)."""
    folder = jars_dir / "spark"
    jars = sorted(str(path) for path in folder.glob("*.jar"))
    if not any("delta-spark" in jar for jar in jars) or not any("sql-kafka" in jar for jar in jars):
        raise SetupError(
            f"Spark's Delta and Kafka jars are missing from {folder}. Run `financelake setup` "
            "(it resolves them from Maven Central once into FINANCELAKE_JARS_DIR; `make setup` "
            "in a clone) and try again."
        )
    return jars


_JVM_OPTIONS = "-XX:-DontCompileHugeMethods"


def build_spark(
    settings: Settings, app_name: str = "financelake", archive_classes_to: Path | None = None
) -> SparkSession:
    """Create (or return the running) SparkSession configured for Delta and the Kafka source.

    The driver JVM maps the classes of the archive `financelake setup` recorded (see
    `class_archive`); `archive_classes_to` records one instead, when this JVM exits. Under
    spark-submit the JVM runs already, with the options given there."""
    # Under spark-submit the JVM already runs with the master (and driver options) given there;
    # setting the master here would silently replace it.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    local = not submitted and settings.spark_master.startswith("local")
    builder = SparkSession.builder.appName(app_name)
    if not submitted:
        builder = builder.master(settings.spark_master)
    builder = (
        builder.config("spark.jars", ",".join(spark_jars(settings.jars_dir)))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.ui.enabled", str(settings.spark_ui).lower())
        .config("spark.ui.showConsoleProgress", "false")
        # Prometheus: the UI serves the driver's metrics at /metrics/prometheus (the servlet
        # sink) and the executors' at /metrics/executors/prometheus; streaming queries report
        # rates and latency there too. A fixed namespace keeps the names stable across runs
        # (the default is the application id, new at every start).
        .config("spark.ui.prometheus.enabled", "true")
        .config("spark.sql.streaming.metricsEnabled", "true")
        .config("spark.metrics.namespace", app_name)
        .config(f"{_SERVLET_SINK}.class", "org.apache.spark.metrics.sink.PrometheusServlet")
        .config(f"{_SERVLET_SINK}.path", SPARK_PROMETHEUS_PATH)
        # Jobs of the streams and of training share the cores by pool instead of queueing
        # behind each other; the ingest stream's tasks go first.
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.scheduler.allocation.file", _POOLS_FILE.as_uri())
        # Streaming: keep the checkpoint's metadata log short and fail on lost Kafka data.
        .config("spark.sql.streaming.minBatchesToRetain", "20")
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        # Delta: a fast MIN/MAX/COUNT from file statistics. Compaction is per table (sinks.py).
        .config("spark.databricks.delta.optimizeWrite.enabled", "false")
        .config("spark.databricks.delta.optimizeMetadataQuery.enabled", "true")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # The transaction log of our tables is small: replaying it on 50 tasks (the default)
        # costs seconds per commit on a laptop; on one machine a single task is plenty.
        .config(
            "spark.databricks.delta.snapshotPartitions",
            "1" if local else str(settings.shuffle_partitions),
        )
        # Delta's log replay and every micro-batch generate code for wide projections; with
        # the default 100 cached classes they evict each other and recompile each batch.
        .config("spark.sql.codegen.cache.maxEntries", "2000")
        # Validation is one wide CASE: its generated method passes HotSpot's 8,000-byte limit
        # for JIT compilation (see spark.sql.codegen.hugeMethodLimit) and ran interpreted,
        # 7.4 s against 4.7 s to parse and validate a million ticks (measured).
        .config("spark.driver.extraJavaOptions", _driver_options(settings, archive_classes_to))
        .config("spark.executor.extraJavaOptions", _JVM_OPTIONS)
    )
    if local:
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
        # Gold's stateful processor runs in Python workers, which import financelake: they
        # must run this interpreter. PySpark reads only the variable (a cluster's workers are
        # given theirs, as in the Dockerfile).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with _jvm_ignores_sigterm():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("Spark %s session on %s", spark.version, spark.sparkContext.master)
    return spark


def _driver_options(settings: Settings, archive_classes_to: Path | None) -> str:
    if archive_classes_to is not None:
        return f"{_JVM_OPTIONS} -XX:ArchiveClassesAtExit={archive_classes_to}"
    archive = usable_archive(settings.jars_dir) if settings.class_archive else None
    return f"{_JVM_OPTIONS} -XX:SharedArchiveFile={archive}" if archive else _JVM_OPTIONS


@contextmanager
def _jvm_ignores_sigterm() -> Iterator[None]:
    """Launch the driver JVM with SIGTERM ignored, so that a SIGTERM to the whole process group
    (systemd's stop, `kill -- -PGID`, many supervisors) reaches only Python, which then stops the
    streams and Spark in order. Otherwise the JVM dies first and the service's shutdown ends in
    a py4j traceback. An ignored disposition survives exec and HotSpot leaves an ignored SIGTERM
    alone; the JVM still exits when Python does (pyspark's gateway watches its stdin). pyspark
    itself does the same for SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal dispositions can only be changed from the main thread
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def hadoop_path(spark: SparkSession, location: str) -> tuple[Any, Any]:
    """(file system, path) of a location through Spark's Hadoop configuration, so the same code
    lists and deletes on local disk and on object stores (s3a://, abfss://)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "a running SparkContext"
    path = jvm.org.apache.hadoop.fs.Path(location)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path  # type: ignore[union-attr]


def use_pool(spark: SparkSession, pool: str) -> None:
    """Run the Spark jobs this thread starts from now on in scheduler `pool`."""
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", pool)


def prepare_batch(batch: DataFrame, pool: str) -> None:
    """Before a `foreachBatch` handler's jobs: run them in scheduler `pool`, and plan them
    without adaptive query execution.

    AQE runs each shuffle stage as a job of its own, to re-plan what follows from the stage's
    real size. A second's ticks leave nothing to re-plan, yet each job costs a scheduling round
    trip: the ingest summary ran as 4 jobs (6 per steady batch in all), Gold's count as 2. The
    setting is the query's own session's (Spark runs each streaming query in a clone of the
    session), so the training cycle and `financelake sql` keep AQE.
    """
    use_pool(batch.sparkSession, pool)
    batch.sparkSession.conf.set("spark.sql.adaptive.enabled", "false")
