"""Refuse to start a stream whose checkpoint is gone while its table already holds data.

A checkpoint holds the Kafka offsets (ingest) or the Silver version (Gold) a stream has written
up to. Without it Spark starts again from the beginning of its source: the topic would be
re-ingested into Bronze and Silver, and closed bars appended to Gold a second time. The replay
check of the ingest stream covers only a run's first batch, so a lost checkpoint must stop the
service with a clear error instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from financelake.config import Settings
from financelake.errors import CheckpointLostError
from financelake.spark import hadoop_path


def require_checkpoints(
    spark: SparkSession, settings: Settings, written_by: Mapping[str, str]
) -> None:
    """`written_by` maps each query name to the table it writes; raise CheckpointLostError if
    the table holds rows but the query's checkpoint has recorded no batch."""
    for query, table in written_by.items():
        checkpoint = settings.checkpoint_path(query)
        # Cheapest first: a file listing settles every restart; reading the table (a Spark
        # job, seconds at start-up) is left for a checkpoint with no batch.
        if _has_batches(spark, f"{checkpoint}/offsets"):
            continue
        path = settings.table_path(table)
        if not DeltaTable.isDeltaTable(spark, path) or _created_empty(spark, path):
            continue
        if spark.read.format("delta").load(path).limit(1).count():
            raise CheckpointLostError(
                f"the checkpoint of stream {query!r} ({checkpoint}) is missing or empty, but "
                f"table {table!r} already holds data. Starting would re-read the source from "
                "the beginning and duplicate it. Restore the checkpoint folder from a backup; "
                f"or, to rebuild everything from the topic, move {settings.lake_root} aside "
                "and start with an empty lake."
            )


def _created_empty(spark: SparkSession, path: str) -> bool:
    """Whether the table's only commit is its creation without rows (a new lake's tables):
    read from the Delta log's history, no data scanned."""
    latest = DeltaTable.forPath(spark, path).history(1).select("version", "operation").first()
    return latest is not None and latest["version"] == 0 and latest["operation"] == "CREATE TABLE"


def _has_batches(spark: SparkSession, folder: str) -> bool:
    """Whether Spark's offset log in `folder` has at least one batch file (any file system)."""
    filesystem, path = hadoop_path(spark, folder)
    if not filesystem.exists(path):
        return False
    return any(
        not entry.getPath().getName().startswith(".") for entry in filesystem.listStatus(path)
    )
