"""Validation rules: each parsed record gets `reason` and `reason_code`, both null for a valid
tick, else the first rule it breaks (a sentence for people, a stable code for machines)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from financelake.schemas import TICK_FIELDS
from financelake.transforms.bronze import CORRUPT, DEFAULT_FIELDS, is_epoch


class ReasonCode(StrEnum):
    """Why a record is in Quarantine: one short code per rule, stable across releases."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NOT_POSITIVE = "not_positive"
    HIGH_BELOW_LOW = "high_below_low"
    PRICE_OUTSIDE_RANGE = "price_outside_range"
    BAD_TIMESTAMP = "bad_timestamp"
    AMBIGUOUS_TIMESTAMP = "ambiguous_timestamp"
    EMPTY_SYMBOL = "empty_symbol"
    FUTURE = "future"
    LATE = "late"
    DUPLICATE = "duplicate"


PRICE_FIELDS = ("price", "open", "high", "low")
_OPTIONAL_NUMBERS = ("open", "high", "low")
_EXPECTED_TYPE = {
    "symbol": "a string",
    "price": "a number",
    "open": "a number",
    "high": "a number",
    "low": "a number",
    "volume": "an integer",
    "timestamp": "a string or an epoch number",
    "trade_id": "a string or a number",
}
_REJECTION = "_rejection"


def rejection(code: ReasonCode, text: Column | str) -> Column:
    """The (code, text) pair a rule gives a record it rejects."""
    reason = F.lit(text) if isinstance(text, str) else text
    return F.struct(F.lit(code.value).alias("code"), reason.alias("text"))


def _present(name: str) -> Column:
    # For a required field only evaluated on the error path (CASE branches are lazy); for an
    # absent optional one on every record, so a substring test spares most of them the parse.
    value = F.col("value")
    return value.contains(f'"{name}"') & F.get_json_object(value, f"$['{name}']").isNotNull()


def _positive_finite(column: Column) -> Column:
    return ~F.isnan(column) & (column > 0) & (column < float("inf"))


def _fmt(column: Column) -> Column:
    return F.coalesce(column.cast("string"), F.lit("null"))


@cache  # ~300 py4j calls (0.2 s) to build, the same for every batch
def _first_rejection(names: tuple[tuple[str, str], ...], max_future_s: int) -> Column:
    """The first rule a parsed record breaks, as a (code, text) struct; null if none."""
    message = dict(names)  # tick field -> its name in the feed's messages
    tick = F.col("_tick")
    all_null = F.lit(True)
    for field in message.values():
        all_null = all_null & tick[field].isNull()
    not_json = F.try_parse_json(F.col("value")).isNull()

    case = F.when(~F.col("_utf8"), rejection(ReasonCode.NOT_UTF8, "not UTF-8")).when(
        tick[CORRUPT].isNotNull() & all_null,
        F.when(not_json, rejection(ReasonCode.NOT_JSON, "not JSON")).otherwise(
            rejection(ReasonCode.NOT_OBJECT, "not a JSON object")
        ),
    )
    for name in message:
        wrong_type = rejection(
            ReasonCode.WRONG_TYPE, f"field '{message[name]}' is not {_EXPECTED_TYPE[name]}"
        )
        if name in TICK_FIELDS:
            missing = rejection(ReasonCode.MISSING_FIELD, f"missing field '{message[name]}'")
            case = case.when(
                tick[message[name]].isNull(),
                F.when(_present(message[name]), wrong_type).otherwise(missing),
            )
        else:  # optional: absent (or JSON null) is fine, present but unreadable is not
            case = case.when(tick[message[name]].isNull() & _present(message[name]), wrong_type)
    # JSON numbers are accepted where Spark would silently turn them into a symbol string.
    case = case.when(
        ~F.col("value").rlike(rf'"{re.escape(message["symbol"])}"\s*:\s*"'),
        rejection(ReasonCode.WRONG_TYPE, f"field '{message['symbol']}' is not a string"),
    )
    for name in PRICE_FIELDS:
        got = _fmt(F.col(name))
        case = case.when(
            ~_positive_finite(F.col(name)),  # null (an absent optional price) is not false
            rejection(
                ReasonCode.NOT_POSITIVE,
                F.concat(F.lit(f"{name} must be a positive finite number, got "), got),
            ),
        )
    price, high, low = F.col("price"), F.col("high"), F.col("low")
    future = F.col("kafka_timestamp") + F.expr(f"INTERVAL {max_future_s} SECONDS")
    return (
        case.when(
            F.col("volume") <= 0,
            rejection(
                ReasonCode.NOT_POSITIVE,
                F.concat(F.lit("volume must be a positive integer, got "), _fmt(F.col("volume"))),
            ),
        )
        .when(high < low, rejection(ReasonCode.HIGH_BELOW_LOW, "high < low"))
        .when(
            (price < low) | (price > high),
            rejection(ReasonCode.PRICE_OUTSIDE_RANGE, "price outside [low, high]"),
        )
        .when(
            F.col("event_time").isNull(),
            F.when(
                is_epoch(tick[message["timestamp"]]),
                rejection(
                    ReasonCode.AMBIGUOUS_TIMESTAMP,
                    F.concat(
                        F.lit("epoch timestamp '"),
                        tick[message["timestamp"]],
                        F.lit("' does not name one unit (s, ms, us or ns) by its magnitude"),
                    ),
                ),
            ).otherwise(
                rejection(
                    ReasonCode.BAD_TIMESTAMP,
                    F.concat(
                        F.lit("unparseable timestamp '"), tick[message["timestamp"]], F.lit("'")
                    ),
                )
            ),
        )
        .when(F.trim(F.col("symbol")) == "", rejection(ReasonCode.EMPTY_SYMBOL, "empty symbol"))
        .when(
            F.col("event_time") > future,
            rejection(
                ReasonCode.FUTURE,
                F.concat(
                    F.lit("future: event time "),
                    F.col("event_time").cast("string"),
                    F.lit(f" is more than {max_future_s} s ahead of Kafka's receive time "),
                    F.col("kafka_timestamp").cast("string"),
                ),
            ),
        )
    )


def validate_ticks(
    fields: Mapping[str, str] = DEFAULT_FIELDS, max_future_s: int = 300
) -> Callable[[DataFrame], DataFrame]:
    """Add `reason` and `reason_code` (null for a valid tick) to the output of `parse_ticks`.

    `fields` are the message names `parse_ticks` read (named in the reasons); a tick stamped
    more than `max_future_s` after Kafka received it is rejected as `future`. Kafka's receive
    time rather than the ingest clock, so that a batch replayed after a crash decides the same.
    """
    merged = {**DEFAULT_FIELDS, **fields}
    names = tuple((name, merged[name]) for name in DEFAULT_FIELDS)

    def _validate(parsed: DataFrame) -> DataFrame:
        return parsed.withColumn(_REJECTION, _first_rejection(names, max_future_s)).transform(
            with_rejection
        )

    return _validate


def with_rejection(df: DataFrame) -> DataFrame:
    """Split the `_rejection` struct into the `reason` and `reason_code` columns."""
    return df.withColumns(
        {"reason": F.col(f"{_REJECTION}.text"), "reason_code": F.col(f"{_REJECTION}.code")}
    ).drop(_REJECTION)
