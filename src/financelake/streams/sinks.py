"""Delta sinks with a narrow interface: create the table once, then idempotent writes only."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from financelake.config import Settings
from financelake.schemas import BRONZE, GOLD, QUARANTINE, SILVER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeltaSink:
    """One Delta table. `append` is exactly-once per (app_id, version) thanks to Delta's
    transaction identifiers: a retried micro-batch with the same id is skipped, not re-written."""

    spark: SparkSession
    path: str
    schema: StructType
    partition_by: Sequence[str] = ("date",)
    # Compact small files right after a write, in the writer's own commit sequence. For MERGEd
    # tables only: an append-only table is compacted off the hot path (`compact`), which cannot
    # conflict with its blind appends.
    auto_compact: bool = False

    def setup(self) -> None:
        """Create the (empty) table with its schema and partitioning if it does not exist."""
        builder = (
            DeltaTable.createIfNotExists(self.spark)
            .location(self.path)
            .addColumns(self.schema)
            .property("delta.autoOptimize.autoCompact", str(self.auto_compact).lower())
        )
        if self.partition_by:
            builder = builder.partitionedBy(*self.partition_by)
        builder.execute()

    def append(self, df: DataFrame, app_id: str, version: int) -> None:
        (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", app_id)
            .option("txnVersion", version)
            .save(self.path)
        )

    def upsert(self, df: DataFrame, keys: Sequence[str], prune: str | None = None) -> None:
        """MERGE rows by `keys`: replace matching rows, insert new ones (idempotent by design).

        `prune` is an extra condition on the target (`t.`) with literals, so Delta can skip files.
        """
        condition = " AND ".join(f"t.{key} = s.{key}" for key in keys)
        if prune:
            condition = f"{condition} AND {prune}"
        (
            DeltaTable.forPath(self.spark, self.path)
            .alias("t")
            .merge(df.alias("s"), condition)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    def compact(self) -> None:
        """Rewrite small files into larger ones (a dataChange=false commit streams ignore)."""
        DeltaTable.forPath(self.spark, self.path).optimize().executeCompaction()

    def read(self) -> DataFrame:
        return self.spark.read.format("delta").load(self.path)


@dataclass(frozen=True)
class Lake:
    """The pipeline's tables under one lake root."""

    bronze: DeltaSink
    quarantine: DeltaSink
    silver: DeltaSink
    gold: DeltaSink

    @classmethod
    def at(cls, spark: SparkSession, settings: Settings) -> Lake:
        def sink(name: str, schema: StructType, auto_compact: bool = False) -> DeltaSink:
            return DeltaSink(spark, settings.table_path(name), schema, auto_compact=auto_compact)

        return cls(
            bronze=sink("bronze", BRONZE),
            quarantine=sink("quarantine", QUARANTINE),
            silver=sink("silver", SILVER),
            gold=sink("gold", GOLD, auto_compact=True),
        )

    def setup(self) -> None:
        for table in (self.bronze, self.quarantine, self.silver, self.gold):
            table.setup()

    def compact_appended(self) -> None:
        """Compact the append-only tables (the streams keep appending meanwhile)."""
        for table in (self.bronze, self.quarantine, self.silver):
            table.compact()


def query_id(spark: SparkSession, checkpoint: str) -> str:
    """The streaming query's id, persisted in its checkpoint; stable across restarts.

    Used as Delta's `txnAppId`: a fresh checkpoint gets a fresh id, so its batch ids (which
    restart at 0) are never mistaken for batches that were already written.
    """
    line = spark.read.text(f"{checkpoint}/metadata").first()
    if line is None:
        raise RuntimeError(f"checkpoint {checkpoint} has no metadata yet")
    return str(json.loads(line[0])["id"])
