"""Validation rules: each parsed record gets `reason` = null (a valid tick) or why it is not."""

from __future__ import annotations

from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from financelake.schemas import TICK_FIELDS
from financelake.transforms.bronze import CORRUPT

PRICE_FIELDS = ("price", "open", "high", "low")
_EXPECTED_TYPE = {
    "symbol": "a string",
    "price": "a number",
    "open": "a number",
    "high": "a number",
    "low": "a number",
    "volume": "an integer",
    "timestamp": "a string",
}


def _present(field: str) -> Column:
    # Only evaluated on the error path (CASE branches are lazy), so the extra parse is rare.
    return F.get_json_object(F.col("value"), f"$.{field}").isNotNull()


def _positive_finite(column: Column) -> Column:
    return ~F.isnan(column) & (column > 0) & (column < float("inf"))


def _fmt(column: Column) -> Column:
    return F.coalesce(column.cast("string"), F.lit("null"))


@cache  # ~300 py4j calls (0.2 s) to build, the same for every batch
def rejection_reason() -> Column:
    """The first rule a parsed record breaks, as a human-readable sentence; null if none."""
    tick = F.col("_tick")
    field_is_null = {name: tick[name].isNull() for name in TICK_FIELDS}
    all_null = F.lit(True)
    for is_null in field_is_null.values():
        all_null = all_null & is_null
    not_json = F.try_parse_json(F.col("value")).isNull()

    reason = F.when(~F.col("_utf8"), F.lit("not UTF-8")).when(
        tick[CORRUPT].isNotNull() & all_null,
        F.when(not_json, F.lit("not JSON")).otherwise(F.lit("not a JSON object")),
    )
    for name in TICK_FIELDS:
        reason = reason.when(
            field_is_null[name],
            F.when(
                _present(name),
                F.lit(f"field '{name}' is not {_EXPECTED_TYPE[name]}"),
            ).otherwise(F.lit(f"missing field '{name}'")),
        )
    # JSON numbers are accepted where Spark would silently turn them into a symbol string.
    reason = reason.when(
        ~F.col("value").rlike(r'"symbol"\s*:\s*"'), F.lit("field 'symbol' is not a string")
    )
    for name in PRICE_FIELDS:
        reason = reason.when(
            ~_positive_finite(tick[name]),
            F.concat(F.lit(f"{name} must be a positive finite number, got "), _fmt(tick[name])),
        )
    return (
        reason.when(
            tick["volume"] <= 0,
            F.concat(F.lit("volume must be a positive integer, got "), _fmt(tick["volume"])),
        )
        .when(tick["high"] < tick["low"], F.lit("high < low"))
        .when(
            (tick["price"] < tick["low"]) | (tick["price"] > tick["high"]),
            F.lit("price outside [low, high]"),
        )
        .when(
            F.col("event_time").isNull(),
            F.concat(F.lit("unparseable timestamp '"), tick["timestamp"], F.lit("'")),
        )
        .when(F.trim(tick["symbol"]) == "", F.lit("empty symbol"))
    )


def validate_ticks(parsed: DataFrame) -> DataFrame:
    """Add `reason` (null for a valid tick) to the output of `parse_ticks`."""
    return parsed.withColumn("reason", rejection_reason())
