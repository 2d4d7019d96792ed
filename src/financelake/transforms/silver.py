"""Validated records -> Silver (clean, unique, enriched ticks) and Quarantine (the rest + why)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from financelake.schemas import QUARANTINE, SILVER
from financelake.transforms.bronze import event_date

TICK_KEY = ("symbol", "event_time")
_POSITION = ("topic", "partition", "offset")


def flag_late_and_duplicates(
    validated: DataFrame, watermark: datetime | None, silver_keys: DataFrame | None
) -> DataFrame:
    """Give otherwise valid ticks a `reason` when they are late or repeat a tick already kept.

    `watermark`: ticks with an earlier event time arrive after their bar was closed (late).
    `silver_keys`: `(symbol, event_time)` of ticks already in Silver (None: Silver is empty).
    Within the batch the first copy by Kafka (partition, offset) is kept, so a replayed batch
    makes the same choice. Duplicates are found on a narrow frame of keys and Kafka
    coordinates; only the (normally few) repeats are joined back onto the full rows.
    """
    late = F.lit(False) if watermark is None else F.col("event_time") < F.lit(watermark)
    valid = F.col("reason").isNull() & ~late
    keys = validated.where(valid).select(
        F.trim("symbol").alias("symbol"), "event_time", *_POSITION
    )  # Silver keeps symbols trimmed
    copies = keys.groupBy(*TICK_KEY).agg(
        F.count(F.lit(1)).alias("_copies"), F.min(F.struct(*_POSITION)).alias("_first")
    )
    repeats = (
        keys.join(copies.where(F.col("_copies") > 1), on=list(TICK_KEY))
        .where(F.struct(*_POSITION) != F.col("_first"))
        .select(*_POSITION)
    )
    if silver_keys is not None:
        repeats = repeats.unionByName(
            keys.join(silver_keys.select(*TICK_KEY), on=list(TICK_KEY), how="left_semi").select(
                *_POSITION
            )
        )
    flagged = validated.join(
        F.broadcast(repeats.distinct().withColumn("_repeat", F.lit(True))),
        on=list(_POSITION),
        how="left",
    )
    return flagged.withColumn(
        "reason",
        F.when(F.col("reason").isNotNull(), F.col("reason"))
        .when(
            late,
            F.concat(
                F.lit("late: event time "),
                F.col("event_time").cast("string"),
                F.lit(f" is behind the watermark {watermark}"),
            ),
        )
        .when(
            F.col("_repeat"),
            F.lit("duplicate: this (symbol, timestamp) tick is already in silver"),
        ),
    ).drop("_repeat")


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
