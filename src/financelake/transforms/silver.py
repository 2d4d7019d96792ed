"""Validated records -> Silver (clean, unique, enriched ticks) and Quarantine (the rest + why)."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from financelake.schemas import QUARANTINE, SILVER
from financelake.transforms.bronze import event_date

TICK_KEY = ("symbol", "event_time")
_POSITION = ("topic", "partition", "offset")


def flag_late(validated: DataFrame, watermark: datetime | None) -> DataFrame:
    """Give otherwise valid ticks with an event time before `watermark` (their bar was closed
    before they arrived) the reason "late"."""
    if watermark is None:
        return validated
    late = F.col("reason").isNull() & (F.col("event_time") < F.lit(watermark))
    reason = F.concat(
        F.lit("late: event time "),
        F.col("event_time").cast("string"),
        F.lit(f" is behind the watermark {watermark}"),
    )
    return validated.withColumn("reason", F.when(late, reason).otherwise(F.col("reason")))


def flag_repeats(flagged: DataFrame, silver_keys: DataFrame | None) -> DataFrame:
    """Give otherwise valid ticks that repeat a kept tick the reason "duplicate".

    `silver_keys`: `(symbol, event_time)` of ticks already in Silver (None: none to compare).
    Within the batch the first copy by Kafka (partition, offset) is kept, so a replayed batch
    makes the same choice. Duplicates are found on a narrow frame of keys and Kafka
    coordinates; only the (normally few) repeats are joined back onto the full rows.
    """
    keys = flagged.where(F.col("reason").isNull()).select(
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
    marked = flagged.join(
        F.broadcast(repeats.distinct().withColumn("_repeat", F.lit(True))),
        on=list(_POSITION),
        how="left",
    )
    duplicate = F.lit("duplicate: this (symbol, timestamp) tick is already in silver")
    return marked.withColumn(
        "reason",
        F.when(F.col("_repeat") & F.col("reason").isNull(), duplicate).otherwise(F.col("reason")),
    ).drop("_repeat")


def kept_times(flagged: DataFrame) -> DataFrame:
    """Per symbol (trimmed, as Silver keeps it) of the ticks still valid: how many, how many
    distinct event times (fewer: the batch repeats a tick), the first and last event time;
    plus one row with a null symbol counting the records that have a reason."""
    kept = F.col("reason").isNull()
    return flagged.groupBy(F.when(kept, F.trim("symbol")).alias("symbol")).agg(
        F.count(F.lit(1)).alias("records"),
        F.count_distinct("event_time").alias("event_times"),
        F.min("event_time").alias("first"),
        F.max("event_time").alias("last"),
    )


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
