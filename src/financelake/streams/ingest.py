"""Kafka -> Silver + Quarantine + Bronze, one micro-batch at a time, exactly once.

Each batch is one blind append per table: Quarantine (usually nothing), Silver, Bronze.
Appends do not carry Delta transaction ids: Delta answers "was this txnVersion written?" by
rebuilding the whole table state, which cost ~0.6 s per commit here. Instead a replay is
recognised by its Kafka coordinates, which every table keeps: only the first batch of a run
can repeat one that a crash cut short, so that batch alone is checked against the tables,
and each table that already holds it is skipped.

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

from financelake.catalog import INGEST_QUERY as QUERY
from financelake.config import Settings
from financelake.kafka.client import spark_kafka_options
from financelake.spark import INGEST_POOL, use_pool
from financelake.streams.event_times import EventTimes, Span
from financelake.streams.sinks import Lake
from financelake.transforms.bronze import parse_ticks, to_bronze, within_offsets
from financelake.transforms.gold import watermark_from
from financelake.transforms.quality import validate_ticks
from financelake.transforms.silver import (
    flag_late,
    flag_repeats,
    kept_times,
    to_quarantine,
    to_silver,
)

log = logging.getLogger(__name__)
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
        use_pool(self._spark, INGEST_POOL)
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
        flagged = flag_late(parsed, times.watermark)
        kept, rejected, spans, repeats_within = _summary(flagged)
        note = f"{QUERY} batch {batch_id}"
        # A healthy feed repeats nothing: no tick twice in the batch, every symbol's ticks
        # newer than its latest Silver tick. Only otherwise are repeats looked for, in Silver
        # only for the symbols whose ticks could be there.
        suspects = times.may_repeat(spans)
        if repeats_within or suspects:
            routed = _persisted(flag_repeats(flagged, self._silver_keys(own, suspects, spans)))
            try:
                kept, rejected, _, _ = _summary(routed)
                self._write(parsed, routed, kept, rejected, written, note)
            finally:
                routed.unpersist()
        else:
            self._write(parsed, flagged, kept, rejected, written, note)
        # Spans of valid, timely ticks: repeats among them only repeat times already known.
        times.advance(spans)

    def _silver_keys(
        self, own: Column | None, suspects: list[str], spans: dict[str, Span]
    ) -> DataFrame | None:
        """The Silver ticks the batch's `suspects` could repeat (None: no suspects)."""
        if not suspects:
            return None
        since = min(spans[symbol][0] for symbol in suspects)
        return (
            self._silver_before(own)
            .where(F.col("symbol").isin(suspects))
            .where(F.col("event_time") >= F.lit(since))
            .select("symbol", "event_time")
        )

    def _write(
        self,
        parsed: DataFrame,
        routed: DataFrame,
        kept: int,
        rejected: int,
        written: set[str],
        note: str,
    ) -> None:
        """Append the batch to each table that does not hold it yet: Quarantine first (a
        Silver append re-plans cached plans that read Silver, as `routed` may), then Silver
        (what Gold and users wait for), then Bronze."""
        rows = kept + rejected
        if rows == 0:
            return
        writers = -(-rows // ROWS_PER_FILE)  # coalesce never adds partitions
        if rejected and "quarantine" not in written:
            self._lake.quarantine.append(routed.transform(to_quarantine).coalesce(1), note)
        if kept and "silver" not in written:
            self._lake.silver.append(routed.transform(to_silver).coalesce(writers), note)
        if "bronze" not in written:
            self._lake.bronze.append(parsed.transform(to_bronze).coalesce(writers), note)

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


def _summary(flagged: DataFrame) -> tuple[int, int, dict[str, Span], bool]:
    """Kept and rejected record counts, per symbol the first and last event time of its kept
    ticks, and whether a kept tick appears twice (one small job; a row per symbol)."""
    kept_rows, rejected_rows, spans, repeats = 0, 0, {}, False
    for row in flagged.transform(kept_times).collect():
        if row.symbol is None:
            rejected_rows += row.records
        else:
            kept_rows += row.records
            spans[row.symbol] = (row.first, row.last)
            repeats = repeats or row.event_times < row.records
    return kept_rows, rejected_rows, spans, repeats


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
