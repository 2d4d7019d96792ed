"""Silver -> Gold: every micro-batch of new ticks recomputes the bars they touch, from Silver.

Recomputing a touched bar from all of its Silver ticks and MERGE-ing it by (symbol,
window_start) is idempotent, so a replayed batch converges to the same Gold, and Gold always
equals a batch recomputation from Silver.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from financelake.catalog import GOLD_QUERY as QUERY
from financelake.config import Settings
from financelake.spark import GOLD_POOL, use_pool
from financelake.streams.sinks import Lake
from financelake.transforms.gold import aggregate_bars

log = logging.getLogger(__name__)


class GoldBatch:
    """The foreachBatch handler: find the touched bars, rebuild them from Silver, MERGE."""

    def __init__(self, spark: SparkSession, settings: Settings, lake: Lake) -> None:
        self._spark = spark
        self._settings = settings
        self._lake = lake

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        use_pool(self._spark, GOLD_POOL)
        interval = self._settings.bar_interval
        touched = (
            batch.select("symbol", F.window("event_time", interval).start.alias("window_start"))
            .distinct()
            .cache()
        )
        try:
            span = touched.agg(F.min("window_start"), F.max("window_start")).first()
            if span is None or span[0] is None:
                return
            first, last = span[0], span[1]
            ticks = (
                self._lake.silver.read()
                .where(F.col("date").between(first.date(), last.date()))
                .where(F.col("event_time") >= F.lit(first))
                .withColumn("window_start", F.window("event_time", interval).start)
                .join(F.broadcast(touched), on=["symbol", "window_start"], how="left_semi")
                .drop("window_start")
            )
            bars = ticks.transform(aggregate_bars(interval))
            prune = (
                f"t.date BETWEEN '{first.date()}' AND '{last.date()}' "
                f"AND t.window_start >= '{first.isoformat(sep=' ')}'"
            )
            self._lake.gold.upsert(bars, keys=("symbol", "window_start"), prune=prune)
        finally:
            touched.unpersist()


def start_gold(spark: SparkSession, settings: Settings, available_now: bool) -> StreamingQuery:
    """Start the Silver -> Gold query from its checkpoint."""
    lake = Lake.at(spark, settings)
    writer = (
        spark.readStream.format("delta")
        .load(lake.silver.path)
        .writeStream.queryName(QUERY)
        .foreachBatch(GoldBatch(spark, settings, lake))
        .option("checkpointLocation", settings.checkpoint_path(QUERY))
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.gold_trigger_interval)
    return writer.start()
