"""Kafka -> Silver + Quarantine + Bronze, one micro-batch at a time, exactly once.

Each batch is one blind append per table: Quarantine (usually nothing), Silver, Bronze. Appends
do not carry Delta transaction ids: Delta answers "was this txnVersion written?" by rebuilding
the whole table state, which cost ~0.6 s per commit here. Instead a replay is recognised by
its Kafka coordinates, which every table keeps: only the first batch of a run can repeat one
that a crash cut short, so that batch alone is checked against the tables, and each table
that already holds it is skipped.

The late/duplicate decisions are made against Silver as it was before the batch (the batch's
own rows excluded), so a replayed batch decides exactly as it did the first time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from financelake.config import Settings
from financelake.kafka.client import spark_kafka_options
from financelake.streams.event_times import EventTimes, Span
from financelake.streams.sinks import Lake
from financelake.transforms.bronze import parse_ticks, to_bronze, within_offsets
from financelake.transforms.gold import watermark_from
from financelake.transforms.quality import validate_ticks
from financelake.transforms.silver import flag_late_and_duplicates, to_quarantine, to_silver

log = logging.getLogger(__name__)
QUERY = "ingest"
ROWS_PER_FILE = 500_000  # few, well-filled files per commit


class IngestBatch:
    """The foreachBatch handler: pure transforms, then at most one append per table.

    What it needs to know about Silver (latest event times, for the watermark and to tell
    which ticks could be repeats) is read from Silver once per run, then tracked from what
    each batch adds; Silver itself is read only for symbols whose ticks could be repeats.
    """

    def __init__(self, spark: SparkSession, settings: Settings, lake: Lake) -> None:
        self._spark = spark
        self._settings = settings
        self._lake = lake
        self._times: EventTimes | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        parsed = (
            batch.transform(parse_ticks).transform(validate_ticks).drop("_tick", "_utf8")
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            self._ingest(parsed, batch_id)
        finally:
            parsed.unpersist()

    def _ingest(self, parsed: DataFrame, batch_id: int) -> None:
        own: Column | None = None  # this batch's rows, where an earlier run may have put them
        written: set[str] = set()
        if self._times is None:
            own, written, self._times = self._resume(parsed)
        times = self._times
        watermark = times.watermark
        # Route first without looking at Silver; only symbols whose kept ticks are not newer
        # than their latest Silver tick (a replayed or re-sent tick) need the look.
        routed = _persisted(flag_late_and_duplicates(parsed, watermark, None))
        try:
            kept, rejected, spans = _summary(routed)
            suspects = times.may_repeat(spans)
            if suspects:
                since = min(spans[symbol][0] for symbol in suspects)
                silver_keys = (
                    self._silver_before(own)
                    .where(F.col("symbol").isin(suspects))
                    .where(F.col("event_time") >= F.lit(since))
                    .select("symbol", "event_time")
                )
                routed.unpersist()
                routed = _persisted(flag_late_and_duplicates(parsed, watermark, silver_keys))
                kept, rejected, _ = _summary(routed)
            rows = kept + rejected
            if rows == 0:
                return
            writers = max(1, min(parsed.rdd.getNumPartitions(), -(-rows // ROWS_PER_FILE)))
            note = f"{QUERY} batch {batch_id}"
            # Quarantine before Silver: a Silver append re-plans cached plans that read Silver,
            # and `routed` may read it (for suspects). Usually nothing is rejected.
            if rejected and "quarantine" not in written:
                self._lake.quarantine.append(routed.transform(to_quarantine).coalesce(1), note)
            if kept and "silver" not in written:
                self._lake.silver.append(routed.transform(to_silver).coalesce(writers), note)
            if "bronze" not in written:
                self._lake.bronze.append(parsed.transform(to_bronze).coalesce(writers), note)
        finally:
            routed.unpersist()
        # Spans of the first routing: its extra "kept" ticks, if any, repeat known times.
        times.advance(spans)

    def _resume(self, parsed: DataFrame) -> tuple[Column, set[str], EventTimes]:
        """First batch of a run, the one a crash may have cut short: which tables already
        hold it, and Silver's event times before it."""
        ranges = parsed.groupBy("topic", "partition").agg(F.min("offset"), F.max("offset"))
        own = within_offsets([(r[0], r[1], r[2], r[3]) for r in ranges.collect()])
        tables = {
            "silver": self._lake.silver,
            "quarantine": self._lake.quarantine,
            "bronze": self._lake.bronze,
        }
        written = {name for name, table in tables.items() if table.holds(own)}
        if written:
            log.warning(
                "replaying a batch an interrupted run left half-written: already in %s, "
                "not written again",
                ", ".join(sorted(written)),
            )
        silver = self._silver_before(own)
        row = silver.agg(F.max("event_time")).first()
        lateness = timedelta(seconds=self._settings.watermark_seconds)
        latest = row[0] if row else None
        watermark = watermark_from(latest, lateness.total_seconds())
        recent = (
            silver.where(F.col("event_time") >= F.lit(watermark))
            .groupBy("symbol")
            .agg(F.max("event_time"))
            .collect()
            if watermark is not None
            else []
        )
        return own, written, EventTimes.of(lateness, latest, [(r[0], r[1]) for r in recent])

    def _silver_before(self, own: Column | None) -> DataFrame:
        """Silver without this batch's own rows (they are there only if this is a replay)."""
        silver = self._lake.silver.read()
        return silver if own is None else silver.where(~own)


def _persisted(df: DataFrame) -> DataFrame:
    return df.persist(StorageLevel.MEMORY_AND_DISK)


def _summary(routed: DataFrame) -> tuple[int, int, dict[str, Span]]:
    """Kept and rejected record counts, and per symbol the first and last event time of its
    kept ticks (one small job; one result row per symbol)."""
    kept = F.col("reason").isNull()
    groups = routed.groupBy(F.when(kept, F.trim("symbol")).alias("symbol")).agg(
        F.count(F.lit(1)), F.min("event_time"), F.max("event_time")
    )
    kept_rows, rejected_rows, spans = 0, 0, {}
    for symbol, count, first, last in groups.collect():
        if symbol is None:
            rejected_rows += count
        else:
            kept_rows += count
            spans[symbol] = (first, last)
    return kept_rows, rejected_rows, spans


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
