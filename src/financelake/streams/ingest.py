"""Kafka -> Silver + Quarantine + Bronze, one micro-batch at a time, exactly once.

Each batch is one blind append per table: Quarantine (usually nothing), Silver, Bronze.
Appends do not carry Delta transaction ids: Delta answers "was this txnVersion written?" by
rebuilding the whole table state, which cost ~0.6 s per commit here. Instead a replay is
recognised by its Kafka coordinates, which every table keeps: only the first batch of a run
can repeat one that a crash cut short, so that batch alone is checked against the tables,
and each table that already holds it is skipped.

The late/duplicate decisions are planned (`planner`) against Silver's per-symbol clocks as they
were before the batch (the batch's own rows excluded), so a replayed batch decides exactly as
it did the first time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import partial

from pyspark import InheritableThread, StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from financelake.catalog import INGEST_QUERY as QUERY
from financelake.config import Settings
from financelake.kafka.client import spark_kafka_options
from financelake.lake.history import batch_note
from financelake.spark import INGEST_POOL, prepare_batch
from financelake.streams.planner import Clocks, SymbolSpan, plan_batch
from financelake.streams.sinks import Lake
from financelake.transforms.bronze import parse_ticks, to_bronze, within_offsets
from financelake.transforms.quality import validate_ticks
from financelake.transforms.silver import (
    TICK_KEY,
    flag_late,
    flag_repeats,
    kept_times,
    to_quarantine,
    to_silver,
)

log = logging.getLogger(__name__)
ROWS_PER_FILE = 500_000  # few, well-filled files per commit


class IngestBatch:
    """The foreachBatch handler: read, apply the pure transforms and the plan, write.

    Each symbol's clock (its latest Silver event time, see `planner`) is read from Silver once
    per run, then advanced from what each batch adds; Silver itself is read only for symbols
    whose ticks could be repeats.
    """

    def __init__(self, settings: Settings, lake: Lake) -> None:
        self._settings = settings
        self._lake = lake
        self._lateness = timedelta(seconds=settings.watermark_seconds)
        self._clocks: Clocks | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        prepare_batch(batch, INGEST_POOL)
        fields = self._settings.message_fields
        parsed = (
            batch.transform(parse_ticks(fields))
            .transform(validate_ticks(fields, self._settings.max_future_seconds))
            .drop("_tick", "_utf8")
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            self._ingest(parsed, batch_id)
        finally:
            parsed.unpersist()

    def _ingest(self, parsed: DataFrame, batch_id: int) -> None:
        own: Column | None = None  # this batch's rows, where an earlier run may have put them
        written: set[str] = set()
        if self._clocks is None:
            own, written, self._clocks = self._resume(parsed)
        kept, rejected, spans = _summary(parsed)
        plan = plan_batch(self._clocks, spans, self._lateness)
        note = batch_note(QUERY, batch_id)
        if plan.ordered:  # the healthy feed: nothing to flag, the summary's counts are exact
            self._write(parsed, parsed, kept, rejected, written, note, bronze_beside=True)
        else:
            routed = flag_late(parsed, plan.late_before)
            if plan.repeats_within or plan.look_in_silver:
                routed = flag_repeats(routed, self._silver_keys(own, plan.look_in_silver))
            routed = _persisted(routed)
            try:
                kept, rejected, _ = _summary(routed)
                self._write(parsed, routed, kept, rejected, written, note, bronze_beside=False)
            finally:
                routed.unpersist()
        self._clocks = plan.clocks

    def _silver_keys(self, own: Column | None, since: Mapping[str, datetime]) -> DataFrame | None:
        """The Silver ticks that ticks of the symbols in `since` could repeat (None: none).

        A repeated trade_id is caught by this too when the re-sent tick is not newer than its
        symbol's clock, as a re-sent message always is."""
        if not since:
            return None
        return (
            self._silver_before(own)
            .where(F.col("symbol").isin(list(since)))
            .where(F.col("event_time") >= F.lit(min(since.values())))
            .select(*TICK_KEY, "trade_id")
        )

    def _write(
        self,
        parsed: DataFrame,
        routed: DataFrame,
        kept: int,
        rejected: int,
        written: set[str],
        note: str,
        *,
        bronze_beside: bool,
    ) -> None:
        """Append the batch to each table that does not hold it yet: Quarantine first (a
        Silver append re-plans cached plans that read Silver, as `routed` may), then Silver
        (what Gold and users wait for); Bronze after them, or beside them (`bronze_beside`)
        when nothing written here reads Silver."""
        rows = kept + rejected
        if rows == 0:
            return
        writers = -(-rows // ROWS_PER_FILE)  # coalesce never adds partitions
        bronze = None
        if "bronze" not in written:
            bronze = partial(
                self._lake.bronze.append, parsed.transform(to_bronze).coalesce(writers), note
            )
        wait_for_bronze = _beside(bronze) if bronze and bronze_beside else None
        try:
            if rejected and "quarantine" not in written:
                self._lake.quarantine.append(routed.transform(to_quarantine).coalesce(1), note)
            if kept and "silver" not in written:
                self._lake.silver.append(routed.transform(to_silver).coalesce(writers), note)
        finally:
            if wait_for_bronze:
                wait_for_bronze()
        if bronze and not bronze_beside:
            bronze()

    def _resume(self, parsed: DataFrame) -> tuple[Column, set[str], dict[str, datetime]]:
        """First batch of a run, the one a crash may have cut short: which tables already
        hold it, and each symbol's clock in Silver before it (one aggregate over Silver's
        symbol and event_time columns, once per run)."""
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
        clocks = self._silver_before(own).groupBy("symbol").agg(F.max("event_time")).collect()
        return own, written, {row[0]: row[1] for row in clocks}

    def _silver_before(self, own: Column | None) -> DataFrame:
        """Silver without this batch's own rows (they are there only if this is a replay)."""
        silver = self._lake.silver.read()
        return silver if own is None else silver.where(~own)


def _beside(work: Callable[[], None]) -> Callable[[], None]:
    """Start `work` on a thread of its own; the returned function waits for it and raises its
    error.

    Hand-written because Spark has no "append these two tables at once": each Delta append is a
    write job and a commit, most of it driver time, so run one after the other they made a
    steady batch ~0.5 s longer than either. InheritableThread carries this thread's Spark
    properties (scheduler pool, the query's and batch's job labels) to the new one."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the waiting thread
            errors.append(exc)

    thread = InheritableThread(target=run)
    thread.start()

    def wait() -> None:
        thread.join()
        if errors:
            raise errors[0]

    return wait


def _persisted(df: DataFrame) -> DataFrame:
    return df.persist(StorageLevel.MEMORY_AND_DISK)


def _summary(flagged: DataFrame) -> tuple[int, int, dict[str, SymbolSpan]]:
    """Kept and rejected record counts, and per symbol the span of its kept ticks (one small
    job; a row per symbol)."""
    kept_rows, rejected_rows, spans = 0, 0, {}
    for row in flagged.transform(kept_times).collect():
        if row.symbol is None:
            rejected_rows += row.records
        else:
            kept_rows += row.records
            spans[row.symbol] = SymbolSpan(
                row.first,
                row.last,
                row.records,
                row.distinct_ticks,
                row.trade_ids,
                row.distinct_trade_ids,
            )
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
        .foreachBatch(IngestBatch(settings, Lake.at(spark, settings)))
        .option("checkpointLocation", settings.checkpoint_path(QUERY))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.trigger_interval)
    return writer.start()
