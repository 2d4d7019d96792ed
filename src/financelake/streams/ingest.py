"""Kafka -> Bronze + Silver + Quarantine, one micro-batch at a time, exactly once.

Each batch is written to the three tables with Delta transaction ids (query id, batch id), so a
batch replayed after a crash rewrites nothing that was committed. Quarantine is written before
Silver: the late/duplicate decisions depend on Silver's content, which must not yet include the
batch when a half-finished batch is replayed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from financelake.config import Settings
from financelake.kafka.client import spark_kafka_options
from financelake.streams.sinks import Lake, query_id
from financelake.transforms.bronze import parse_ticks, to_bronze
from financelake.transforms.gold import watermark_from
from financelake.transforms.quality import validate_ticks
from financelake.transforms.silver import flag_late_and_duplicates, to_quarantine, to_silver

log = logging.getLogger(__name__)
QUERY = "ingest"


class IngestBatch:
    """The foreachBatch handler: pure transforms, then one idempotent write per table.

    The latest event time in Silver (which sets the watermark) is read from Silver once, then
    tracked from what each batch adds, so a batch costs no extra query on Silver. That is
    replay-safe: a batch replayed after a restart sees the Silver it saw the first time, unless
    it had already committed to Silver, in which case all of its writes are skipped anyway.
    """

    def __init__(self, spark: SparkSession, settings: Settings, lake: Lake) -> None:
        self._spark = spark
        self._settings = settings
        self._lake = lake
        self._app_id: str | None = None
        self._latest: datetime | None = None
        self._latest_known = False

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        if self._app_id is None:
            self._app_id = query_id(self._spark, self._settings.checkpoint_path(QUERY))
        app_id = self._app_id
        parsed = (
            batch.transform(parse_ticks).transform(validate_ticks).drop("_tick", "_utf8")
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            valid_time = F.when(F.col("reason").isNull(), F.col("event_time"))
            stats = parsed.agg(F.count(F.lit(1)), F.min(valid_time), F.max(valid_time)).first()
            rows, first_valid, last_valid = stats if stats else (0, None, None)
            if rows == 0:
                return
            # Few, well-filled files: one writer per ~500k rows, never more than the input has.
            writers = max(1, min(parsed.rdd.getNumPartitions(), -(-rows // 500_000)))
            self._lake.bronze.append(
                parsed.transform(to_bronze).coalesce(writers), f"{app_id}-bronze", batch_id
            )
            latest = self._latest_in_silver()
            watermark = watermark_from(latest, self._settings.watermark_seconds)
            silver_keys = None
            # A tick can repeat one already in Silver only if it is not newer than all of Silver.
            if latest is not None and first_valid is not None and first_valid <= latest:
                silver_keys = (
                    self._lake.silver.read()
                    .select("symbol", "event_time")
                    .where(F.col("event_time") >= F.lit(max(first_valid, watermark or first_valid)))
                )
            routed = parsed.transform(
                lambda df: flag_late_and_duplicates(df, watermark, silver_keys)
            ).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                self._lake.quarantine.append(
                    routed.transform(to_quarantine).coalesce(1), f"{app_id}-quarantine", batch_id
                )
                self._lake.silver.append(
                    routed.transform(to_silver).coalesce(writers), f"{app_id}-silver", batch_id
                )
            finally:
                routed.unpersist()
            if last_valid is not None and (latest is None or last_valid > latest):
                self._latest = last_valid
        finally:
            parsed.unpersist()

    def _latest_in_silver(self) -> datetime | None:
        if not self._latest_known:
            row = self._lake.silver.read().agg(F.max("event_time")).first()
            self._latest = row[0] if row else None
            self._latest_known = True
        return self._latest


def kafka_source(spark: SparkSession, settings: Settings) -> DataFrame:
    """The topic as a streaming DataFrame: from the earliest offset, failing on lost data."""
    reader = (
        spark.readStream.format("kafka")
        .options(**spark_kafka_options(settings))
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "true")
    )
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
    return reader.load()


def start_ingest(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the Kafka -> Bronze/Silver/Quarantine query from its checkpoint."""
    writer = (
        kafka_source(spark, settings)
        .writeStream.queryName(QUERY)
        .foreachBatch(IngestBatch(spark, settings, Lake.at(spark, settings)))
        .option("checkpointLocation", settings.checkpoint_path(QUERY))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.trigger_interval)
    return writer.start()
