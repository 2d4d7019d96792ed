"""Table maintenance for long runs: compaction, VACUUM, Delta log retention and result retention.

At one micro-batch a second the streams add ~3 commits and ~3 small files a second. Without this
module replaced files, log JSON, model folders and old predictions would grow without bound. It
runs in the service's background thread every `compact_interval_s` (never on the ingest path),
and on demand as `financelake maintain`; every run is recorded in the `maintenance` table.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from delta.tables import DeltaTable
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from financelake.catalog import WriteMode, retention_properties, table
from financelake.config import TABLES, Settings, interval_seconds
from financelake.schemas import GOLD_PREDICTIONS, MAINTENANCE
from financelake.spark import hadoop_path
from financelake.streams.sinks import DeltaSink

log = logging.getLogger(__name__)

# Delta refuses a VACUUM retention under 7 days (or under the table's tombstone retention) unless
# its safety check is off: a shorter one can delete files that a lagging stream or a time-travel
# reader still needs. A shorter FINANCELAKE_VACUUM_RETENTION is the user's explicit choice, so
# the check is lifted for it.
_DELTA_MIN_VACUUM_S = 7 * 86400
# Appended to (every second by the streams, every cycle or run by training and maintenance):
# compacted here, off the hot path; replaced tables auto-compact. Without it a results table
# kept one file per cycle, 1,440 a day (a soak's `gold_rl` grew by 1 a minute).
_COMPACTED = tuple(name for name in TABLES if table(name).write_mode is WriteMode.APPEND)
# Result tables whose old runs expire, and the table that says when each run was trained.
_EXPIRING = {"gold_predictions": "gold_ml", "gold_rl_equity": "gold_rl"}
_MODELS = "models"  # the `table_name` of the model-folder row


@dataclass
class TableMaintenance:
    """What one run did to one table (one row of the `maintenance` table)."""

    table_name: str
    compacted: bool = False
    files_vacuumed: int | None = None
    rows_deleted: int | None = None
    folders_removed: int | None = None
    status: str = "ok"
    error: str | None = None


@dataclass
class MaintenanceRun:
    run_id: str
    started_at: datetime
    vacuum_retention: str
    tables: list[TableMaintenance] = field(default_factory=list)
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return all(table.status == "ok" for table in self.tables)

    def summary(self) -> str:
        failed = [t.table_name for t in self.tables if t.status != "ok"]
        vacuumed = sum(t.files_vacuumed or 0 for t in self.tables)
        deleted = sum(t.rows_deleted or 0 for t in self.tables)
        removed = sum(t.folders_removed or 0 for t in self.tables)
        return (
            f"maintenance {self.run_id}: {len(self.tables)} tables, {vacuumed} files vacuumed, "
            f"{deleted} expired rows deleted, {removed} model folders removed"
            + (f"; FAILED: {', '.join(failed)}" if failed else "")
        )


def apply_retention_properties(spark: SparkSession, settings: Settings) -> list[str]:
    """Set `retention_properties` on every existing table whose properties differ.

    Call it before the streams start: a property change is a metadata commit, which would make a
    concurrent blind append fail. Returns the tables that changed.
    """
    wanted = retention_properties(settings.log_retention, settings.tombstone_retention)
    changed = []
    for name in _existing_tables(spark, settings):
        path = settings.table_path(name)
        # The log's metadata only: `detail()` also sizes the table with a Spark job, which cost
        # 5-8 s at every start-up for five tables, against 0.2 s for this.
        have = {
            row.key: row.value for row in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()
        }
        if all(have.get(key) == value for key, value in wanted.items()):
            continue
        assignments = ", ".join(f"'{key}' = '{value}'" for key, value in wanted.items())
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({assignments})")
        changed.append(name)
    if changed:
        log.info("retention properties set on %s", ", ".join(changed))
    return changed


def run_maintenance(spark: SparkSession, settings: Settings) -> MaintenanceRun:
    """Compact, expire and vacuum every table, prune model folders, and record the run.

    Each step is independent: a failing one is recorded with its error and the others still run.
    """
    run = MaintenanceRun(
        run_id=uuid.uuid4().hex[:12],
        started_at=datetime.now(UTC),
        vacuum_retention=settings.vacuum_retention,
    )
    existing = _existing_tables(spark, settings)
    with _vacuum_settings(spark, settings):
        for name in existing:
            run.tables.append(_step(name, partial(_maintain_table, spark, settings, name)))
    if "gold_ml" in existing:
        run.tables.append(_step(_MODELS, lambda t: _prune_models(spark, settings, t)))
    run.finished_at = datetime.now(UTC)
    _record(spark, settings, run)
    log.info("%s", run.summary())
    return run


# Steps ---------------------------------------------------------------------------------------
def _step(name: str, work: Callable[[TableMaintenance], None]) -> TableMaintenance:
    result = TableMaintenance(name)
    try:
        work(result)
    except Exception as exc:  # recorded in the maintenance table; the other tables still run
        log.warning("maintenance of %s failed: %s", name, exc)
        result.status, result.error = "failed", str(exc).splitlines()[0][:500]
    return result


def _maintain_table(
    spark: SparkSession, settings: Settings, name: str, result: TableMaintenance
) -> None:
    table = DeltaTable.forPath(spark, settings.table_path(name))
    if name in _COMPACTED:
        DeltaSink.of(spark, settings, name).compact()
        result.compacted = True
    if name in _EXPIRING:
        result.rows_deleted = _expire_runs(spark, settings, name, _EXPIRING[name])
    table.vacuum(vacuum_retain_hours(settings))  # None: the table's own retention
    result.files_vacuumed = _files_deleted_by_last_vacuum(table)


def _expire_runs(spark: SparkSession, settings: Settings, name: str, runs_table: str) -> int:
    """Delete the rows of runs trained longer than the table's retention ago.

    Retention counts from when a run was trained, not from its bars' dates: a replay of old
    data must not expire at once. In a table partitioned by date (gold_predictions), the dates
    that hold expired runs only are dropped by a partition predicate, which removes their files
    without reading them; the expired rows left in dates shared with newer runs are deleted
    from those partitions only.
    """
    retention = (
        settings.predictions_retention if name == "gold_predictions" else settings.equity_retention
    )
    cutoff = datetime.now(UTC) - timedelta(seconds=interval_seconds(retention))
    runs = (
        spark.read.format("delta")
        .load(settings.table_path(runs_table))
        .where(F.col("trained_at") < F.lit(cutoff))
        .select("run_id")
        .distinct()
    )
    expired = [row.run_id for row in runs.collect()]
    if not expired:
        return 0
    path = settings.table_path(name)
    is_expired = F.col("run_id").isin(expired)
    if "date" not in table(name).partition_by:
        return _delete(spark, path, is_expired)
    dates = (
        spark.read.format("delta")
        .load(path)
        .groupBy("date")
        .agg(F.bool_and(is_expired).alias("only"), F.bool_or(is_expired).alias("some"))
        .where("some")
        .collect()
    )
    whole = [row.date for row in dates if row.only]
    shared = [row.date for row in dates if not row.only]
    deleted = _delete(spark, path, F.col("date").isin(whole)) if whole else 0
    if shared:
        deleted += _delete(spark, path, F.col("date").isin(shared) & is_expired)
    return deleted


def _delete(spark: SparkSession, path: str, rows: Column) -> int:
    """Delete `rows` in one commit; the number of rows it deleted."""
    delta = DeltaTable.forPath(spark, path)
    delta.delete(rows)
    metrics = delta.history(1).select("operationMetrics").first()
    return int((metrics["operationMetrics"] or {}).get("numDeletedRows", 0)) if metrics else 0


def partition_predictions(spark: SparkSession, settings: Settings) -> bool:
    """Rewrite an older lake's unpartitioned `gold_predictions`, partitioned by date, once.

    Lakes written before the table was partitioned hold it without a `date` column. One
    overwrite commit adds the column and the partitioning (the old files stay for time travel
    until VACUUM removes them). Run before anything appends to the table: before the streams
    and the training thread start, or by `financelake maintain`. True if it rewrote the table.
    """
    path = settings.table_path("gold_predictions")
    wanted = list(table("gold_predictions").partition_by)
    if not DeltaTable.isDeltaTable(spark, path):
        return False
    detail = DeltaTable.forPath(spark, path).detail().select("partitionColumns").first()
    if detail is not None and list(detail["partitionColumns"]) == wanted:
        return False
    log.warning("partitioning %s by date (written before it was partitioned); once", path)
    (
        spark.read.format("delta")
        .load(path)
        .withColumn("date", F.to_date("window_start"))
        .select(*GOLD_PREDICTIONS.fieldNames())
        .write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("userMetadata", "partitioned by date")
        .partitionBy(*wanted)
        .save(path)
    )
    return True


def _prune_models(spark: SparkSession, settings: Settings, result: TableMaintenance) -> None:
    """Keep the model folders of the last `keep_models` runs and of the champion (the model of
    the latest successful run, which is what the service would serve); remove the others."""
    runs = (
        spark.read.format("delta")
        .load(settings.table_path("gold_ml"))
        .where(F.col("model_path").isNotNull())
        .select("run_id", "trained_at", "status", "model_path")
        .orderBy(F.col("trained_at").desc())
        .collect()
    )
    keep = {row.model_path for row in runs[: settings.keep_models]}
    champion = next((row.model_path for row in runs if row.status == "ok"), None)
    if champion:
        keep.add(champion)
    removed = 0
    for row in runs:
        if row.model_path in keep:
            continue
        filesystem, path = hadoop_path(spark, row.model_path)
        if filesystem.exists(path) and filesystem.delete(path, True):
            removed += 1
    result.folders_removed = removed


# Helpers -------------------------------------------------------------------------------------
def _existing_tables(spark: SparkSession, settings: Settings) -> list[str]:
    return [name for name in TABLES if DeltaTable.isDeltaTable(spark, settings.table_path(name))]


def vacuum_retain_hours(settings: Settings) -> int | None:
    """The hours for VACUUM's RETAIN, or None to keep removed files for the table's own
    `deletedFileRetentionDuration`, which start-up sets to the vacuum retention
    (`apply_retention_properties`).

    Delta rounds RETAIN to whole hours, so a retention of "20 minutes" passed as 0.33 hours
    deleted files removed seconds before (a soak lost Gold's input that way). A whole number of
    hours is exact; a sub-hour retention goes through the table property, which Delta keeps to
    the millisecond; one longer than the log's (which the property may not exceed) is rounded
    up, keeping files a little longer, never shorter."""
    seconds = interval_seconds(settings.vacuum_retention)
    if seconds % 3600 and seconds <= interval_seconds(settings.log_retention):
        return None
    return math.ceil(seconds / 3600)


def _files_deleted_by_last_vacuum(table: DeltaTable) -> int | None:
    """Delta records each VACUUM as a `VACUUM END` commit with the number of files deleted."""
    last = table.history(1).select("operation", "operationMetrics").first()
    if last is None or last["operation"] != "VACUUM END":
        return None
    return int((last["operationMetrics"] or {}).get("numDeletedFiles", 0))


@contextmanager
def _vacuum_settings(spark: SparkSession, settings: Settings) -> Iterator[None]:
    """VACUUM logged as commits (so its counts are on record), its file listing split into as
    many tasks as the cluster has cores, and the retention check lifted only for a retention the
    user chose below Delta's 7-day floor.

    VACUUM lists the table's folders in `parallelPartitionDiscovery.parallelism` tasks, 10,000 by
    default: on two local cores that took 20-30 s per table however small (3.5 s with 4), so a
    maintenance run over nine tables held both cores for three minutes, beside ingest."""
    wanted = {
        "spark.databricks.delta.vacuum.logging.enabled": "true",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(
            spark.sparkContext.defaultParallelism
        ),
    }
    floor = max(_DELTA_MIN_VACUUM_S, interval_seconds(settings.log_retention))
    if interval_seconds(settings.vacuum_retention) < floor:
        wanted["spark.databricks.delta.retentionDurationCheck.enabled"] = "false"
    previous: dict[str, str | None] = {key: spark.conf.get(key, None) for key in wanted}
    for key, value in wanted.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _record(spark: SparkSession, settings: Settings, run: MaintenanceRun) -> None:
    sink = DeltaSink.of(spark, settings, "maintenance")
    sink.setup()
    rows = [
        (
            run.run_id,
            run.started_at,
            run.finished_at,
            t.table_name,
            t.compacted,
            t.files_vacuumed,
            t.rows_deleted,
            t.folders_removed,
            run.vacuum_retention,
            t.status,
            t.error,
        )
        for t in run.tables
    ]
    sink.append(spark.createDataFrame(rows, MAINTENANCE), f"maintenance {run.run_id}")
