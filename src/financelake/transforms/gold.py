"""Silver ticks -> Gold OHLCV bars per symbol and bar window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from financelake.schemas import GOLD


def aggregate_bars(bar_interval: str) -> Callable[[DataFrame], DataFrame]:
    """Bars of `bar_interval` (e.g. '1 minute', '1 day'; aligned to the UTC epoch) from ticks.

    open/close are the first/last price by event time (unique per symbol in Silver);
    `price_volatility` is the sample standard deviation of price, 0 for a single tick.
    """

    def _aggregate(ticks: DataFrame) -> DataFrame:
        bars = ticks.groupBy("symbol", F.window("event_time", bar_interval).alias("w")).agg(
            F.min_by("price", "event_time").alias("open"),
            F.max("price").alias("high"),
            F.min("price").alias("low"),
            F.max_by("price", "event_time").alias("close"),
            F.avg("price").alias("avg_price"),
            F.coalesce(F.stddev_samp("price"), F.lit(0.0)).alias("price_volatility"),
            F.sum("volume").alias("total_volume"),
            (F.sum(F.col("price") * F.col("volume")) / F.sum("volume")).alias("vwap"),
            F.count(F.lit(1)).alias("tick_count"),
            F.avg("price_change_pct").alias("avg_price_change"),
            F.max("event_time").alias("last_tick_at"),
        )
        return (
            bars.withColumn("window_start", F.col("w.start"))
            .withColumn("window_end", F.col("w.end"))
            .withColumn("date", F.to_date("window_start"))
            .select(*GOLD.fieldNames())
        )

    return _aggregate


def closed_bars(watermark: datetime | None) -> Callable[[DataFrame], DataFrame]:
    """Only bars that can no longer change: their window ended at or before the watermark."""

    def _closed(bars: DataFrame) -> DataFrame:
        if watermark is None:
            return bars.limit(0)
        return bars.where(F.col("window_end") <= F.lit(watermark))

    return _closed


def bars_since(start: datetime | None) -> Callable[[DataFrame], DataFrame]:
    """Only bars whose window starts at or after `start` (None: every bar). The `date` filter is
    the same condition on Gold's partition column, so Delta skips the older days' files."""

    def _since(bars: DataFrame) -> DataFrame:
        if start is None:
            return bars
        recent = F.col("window_start") >= F.lit(start)
        day = (start if start.tzinfo else start.replace(tzinfo=UTC)).astimezone(UTC).date()
        return bars.where((F.col("date") >= F.lit(day)) & recent)

    return _since


def watermark_from(latest_event_time: datetime | None, delay_s: float) -> datetime | None:
    """The event-time watermark: the latest event time seen, minus the allowed lateness."""
    return None if latest_event_time is None else latest_event_time - timedelta(seconds=delay_s)
