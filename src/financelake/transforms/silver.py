"""Validated records -> Silver (clean, unique, enriched ticks) and Quarantine (the rest + why)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from financelake.schemas import QUARANTINE, SILVER
from financelake.transforms.bronze import event_date

TICK_KEY = ("symbol", "event_time")


def flag_late_and_duplicates(
    validated: DataFrame, watermark: datetime | None, silver_keys: DataFrame
) -> DataFrame:
    """Give otherwise valid ticks a `reason` when they are late or repeat a tick already kept.

    `watermark`: ticks with an earlier event time arrive after their bar was closed (late).
    `silver_keys`: `(symbol, event_time)` of ticks already in Silver. Within the batch the first
    copy by Kafka (partition, offset) is kept, so a replayed batch makes the same choice.
    """
    first_copy = Window.partitionBy(*TICK_KEY).orderBy("partition", "offset")
    valid = F.col("reason").isNull()
    ranked = validated.withColumn("_copy", F.when(valid, F.row_number().over(first_copy))).join(
        silver_keys.select(*TICK_KEY).withColumn("_in_silver", F.lit(True)),
        on=list(TICK_KEY),
        how="left",
    )
    late = F.lit(False) if watermark is None else F.col("event_time") < F.lit(watermark)
    return ranked.withColumn(
        "reason",
        F.when(~valid, F.col("reason"))
        .when(
            late,
            F.concat(
                F.lit("late: event time "),
                F.col("event_time").cast("string"),
                F.lit(f" is behind the watermark {watermark}"),
            ),
        )
        .when(
            F.col("_in_silver") | (F.col("_copy") > 1),
            F.lit("duplicate: this (symbol, timestamp) tick is already in silver"),
        ),
    ).drop("_copy", "_in_silver")


def to_silver(routed: DataFrame) -> DataFrame:
    """Valid ticks, typed, with the seed's enrichments and the Kafka coordinates for lineage."""
    return (
        routed.where(F.col("reason").isNull())
        .withColumn("symbol", F.trim("symbol"))
        .withColumn("price_range", F.col("high") - F.col("low"))
        .withColumn("price_change_pct", (F.col("price") - F.col("open")) / F.col("open") * 100)
        .withColumn("date", F.to_date("event_time"))
        .select(*SILVER.fieldNames())
    )


def to_quarantine(routed: DataFrame) -> DataFrame:
    """Every record that is not a valid new tick, with its raw value, coordinates and reason."""
    rejected = routed.where(F.col("reason").isNotNull())
    return (
        rejected.withColumn("quarantined_at", F.current_timestamp())
        .withColumn("date", event_date(rejected))
        .select(*QUARANTINE.fieldNames())
    )
