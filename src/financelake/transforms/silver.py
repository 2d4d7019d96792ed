"""Validated records -> Silver (clean, unique, enriched ticks) and Quarantine (the rest + why)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from financelake.schemas import QUARANTINE, SILVER
from financelake.transforms.bronze import event_date
from financelake.transforms.quality import ReasonCode

# A re-sent message repeats all of these; two real trades at one timestamp differ in one.
TICK_KEY = ("symbol", "event_time", "price", "volume")
TRADE_KEY = ("symbol", "trade_id")  # feeds that number their trades
_POSITION = ("topic", "partition", "offset")


def _reject(df: DataFrame, rejected: Column, code: ReasonCode, text: Column) -> DataFrame:
    """Give the still valid records matching `rejected` this reason (earlier reasons stay)."""
    hit = F.col("reason").isNull() & F.coalesce(rejected, F.lit(False))
    return df.withColumns(
        {
            "reason": F.when(hit, text).otherwise(F.col("reason")),
            "reason_code": F.when(hit, F.lit(code.value)).otherwise(F.col("reason_code")),
        }
    )


def flag_late(validated: DataFrame, late_before: Mapping[str, datetime]) -> DataFrame:
    """Give valid ticks older than their own symbol's threshold in `late_before` (its latest
    Silver event time minus the allowed lateness: its bar was closed before they arrived) the
    reason "late". Symbols not in `late_before` have no late ticks."""
    if not late_before:
        return validated
    thresholds = F.create_map(
        *[part for symbol, at in late_before.items() for part in (F.lit(symbol), F.lit(at))]
    )
    threshold = thresholds[F.trim("symbol")]
    reason = F.concat(
        F.lit("late: event time "),
        F.col("event_time").cast("string"),
        F.lit(" is behind its symbol's watermark "),
        threshold.cast("string"),
    )
    return _reject(validated, F.col("event_time") < threshold, ReasonCode.LATE, reason)


def flag_repeats(flagged: DataFrame, silver_keys: DataFrame | None) -> DataFrame:
    """Give otherwise valid ticks that repeat a kept tick the reason "duplicate".

    A repeat has the symbol, event time, price and volume of another tick, or the `trade_id`
    of another tick of its symbol. `silver_keys`: those columns of ticks already in Silver
    (None: none to compare). Within the batch the first copy by Kafka (partition, offset) is
    kept, so a replayed batch makes the same choice. Repeats are found on a narrow frame of
    keys and Kafka coordinates; only the (normally few) repeats are joined back.
    """
    keys = flagged.where(F.col("reason").isNull()).select(
        F.trim("symbol").alias("symbol"), "event_time", "price", "volume", "trade_id", *_POSITION
    )  # Silver keeps symbols trimmed
    repeats = _later_copies(keys, TICK_KEY).unionByName(
        _later_copies(keys.where(F.col("trade_id").isNotNull()), TRADE_KEY)
    )
    if silver_keys is not None:
        for key in (TICK_KEY, TRADE_KEY):
            repeats = repeats.unionByName(
                keys.join(silver_keys.select(*key), on=list(key), how="left_semi").select(
                    *_POSITION
                )
            )
    marked = flagged.join(
        F.broadcast(repeats.distinct().withColumn("_repeat", F.lit(True))),
        on=list(_POSITION),
        how="left",
    )
    duplicate = F.lit("duplicate: this tick (symbol, time, price, volume or trade_id) is kept")
    return _reject(marked, F.col("_repeat"), ReasonCode.DUPLICATE, duplicate).drop("_repeat")


def _later_copies(keys: DataFrame, key: tuple[str, ...]) -> DataFrame:
    """Positions of the ticks that repeat an earlier (by Kafka position) tick's `key`."""
    copies = keys.groupBy(*key).agg(
        F.count(F.lit(1)).alias("_copies"), F.min(F.struct(*_POSITION)).alias("_first")
    )
    return (
        keys.join(copies.where(F.col("_copies") > 1), on=list(key))
        .where(F.struct(*_POSITION) != F.col("_first"))
        .select(*_POSITION)
    )


def kept_times(flagged: DataFrame) -> DataFrame:
    """Per symbol (trimmed, as Silver keeps it) of the ticks still valid: how many, how many
    distinct ones (fewer: the batch repeats a tick), how many trade ids and distinct ones, the
    first and last event time; plus one row with a null symbol counting the rejected records."""
    kept = F.col("reason").isNull()
    return flagged.groupBy(F.when(kept, F.trim("symbol")).alias("symbol")).agg(
        F.count(F.lit(1)).alias("records"),
        F.count_distinct("event_time", "price", "volume").alias("distinct_ticks"),
        F.count("trade_id").alias("trade_ids"),
        # A second distinct aggregate (Spark expands the rows for it) cost nothing measurable
        # on a million ticks; collect_set, an object aggregate, cost 1.5 s.
        F.count_distinct("trade_id").alias("distinct_trade_ids"),
        F.min("event_time").alias("first"),
        F.max("event_time").alias("last"),
    )


def to_silver(routed: DataFrame) -> DataFrame:
    """Valid ticks, typed, with the seed's enrichments (null without open/high/low) and the
    Kafka coordinates for lineage."""
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
