"""Silver -> Gold: each symbol's bars are folded forward in the state store and appended once.

A Delta stream of Silver feeds `fold_into_bars` (transformWithStateInPandas, RocksDB state, per
symbol). Each micro-batch yields the bars whose symbol's clock passed their end plus the
watermark, appended to Gold with a Delta transaction id (this query's id, the batch id), so a
batch replayed after a crash is skipped by Delta itself; and the bars still open, which replace
their symbols' rows in gold_live. Nothing already in Gold is read or rewritten.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from financelake.catalog import GOLD_QUERY as QUERY
from financelake.config import Settings
from financelake.lake.history import batch_note
from financelake.spark import GOLD_POOL, prepare_batch
from financelake.streams.bar_state import fold_into_bars
from financelake.streams.sinks import Lake

log = logging.getLogger(__name__)
# Set by Spark on the thread that runs a query's micro-batches (foreachBatch included).
_QUERY_ID = "sql.streaming.queryId"


class GoldBatch:
    """The foreachBatch handler: append the closed bars once, replace the open ones."""

    def __init__(self, spark: SparkSession, lake: Lake) -> None:
        self._spark = spark
        self._lake = lake

    def __call__(self, bars: DataFrame, batch_id: int) -> None:
        prepare_batch(bars, GOLD_POOL)
        # Written twice (closed, open): cached so the stateful fold runs once per batch.
        bars = bars.persist()
        try:
            counts = {row.closed: row[1] for row in bars.groupBy("closed").count().collect()}
            if counts.get(True):
                self._lake.gold.append_once(
                    bars.where(F.col("closed")).drop("closed"), self._app_id(), batch_id
                )
            if counts.get(False):
                self._lake.gold_live.replace_partitions(
                    bars.where(~F.col("closed")).drop("closed"), batch_note(QUERY, batch_id)
                )
        finally:
            bars.unpersist()

    def _app_id(self) -> str:
        # The query id lives in the checkpoint: a restart keeps it, a new checkpoint (which
        # starts Gold over) gets a new one, so its batch ids are never mistaken for replays.
        query_id = self._spark.sparkContext.getLocalProperty(_QUERY_ID)
        if not query_id:
            raise RuntimeError("the Gold batch handler ran outside its streaming query")
        return f"gold-{query_id}"


def start_gold(
    spark: SparkSession, settings: Settings, available_now: bool, interval: str | None = None
) -> StreamingQuery:
    """Start the Silver -> Gold query from its checkpoint: drain what Silver holds now and stop,
    or run every `interval` (default: the Gold trigger interval) until stopped."""
    lake = Lake.at(spark, settings)
    silver = (
        spark.readStream.format("delta")
        # No file limit: a micro-batch then ends on a Silver commit, never inside one, which
        # the per-symbol closing rule relies on (a commit's ticks were all admitted against
        # the clocks before it).
        .option("maxFilesPerTrigger", str(2**31 - 1))
        .load(lake.silver.path)
    )
    writer = (
        fold_into_bars(silver, settings.bar_seconds, settings.watermark_seconds)
        .writeStream.queryName(QUERY)
        .foreachBatch(GoldBatch(spark, lake))
        .option("checkpointLocation", settings.checkpoint_path(QUERY))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=interval or settings.gold_trigger_interval)
    return writer.start()
