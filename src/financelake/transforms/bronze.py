"""Kafka records -> Bronze rows: raw text, Kafka coordinates and the parsed tick fields."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from financelake.schemas import BRONZE, TICK_JSON

CORRUPT = "_corrupt"
DEFAULT_FIELDS: Mapping[str, str] = {field.name: field.name for field in TICK_JSON.fields}

# Epoch timestamps: the unit follows from the number of integer digits. Each unit covers
# 1973-03-03 .. 2286-11-20; any other length could be more than one unit (or none), so such a
# timestamp is left unparsed and quarantined as ambiguous.
EPOCH = r"^\d+(\.\d+)?$"
_MICROS_PER_UNIT = {9: 1e6, 10: 1e6, 12: 1e3, 13: 1e3, 15: 1.0, 16: 1.0, 18: 1e-3, 19: 1e-3}


def is_epoch(text: Column) -> Column:
    """Whether a timestamp's text is a plain (possibly fractional) number."""
    return F.trim(text).rlike(EPOCH)


def event_time_of(text: Column) -> Column:
    """An ISO-8601 text or an epoch number (s, ms, us or ns by magnitude) as a timestamp; null
    when it is neither, or when the number's magnitude does not name one unit."""
    number = F.trim(text)
    digits = F.length(F.regexp_extract(number, r"^0*(\d+)", 1))
    micros = F.lit(None).cast("double")
    for length, factor in _MICROS_PER_UNIT.items():
        micros = F.when(digits == length, F.lit(factor)).otherwise(micros)
    # decimal keeps nanosecond digits exact before truncating to Spark's microseconds
    epoch = F.timestamp_micros(
        F.floor(number.try_cast("decimal(38,9)") * micros.cast("decimal(20,3)")).cast("long")
    )
    return F.when(is_epoch(text), epoch).otherwise(text.try_cast("timestamp"))


def parse_ticks(fields: Mapping[str, str] = DEFAULT_FIELDS) -> Callable[[DataFrame], DataFrame]:
    """Decode Kafka's binary `value` and parse the tick JSON, keeping every record.

    `fields` maps each tick field to its name in the feed's messages (another feed's names are
    read directly, without a translation step). Adds the Bronze columns plus two private ones
    used by validation: `_utf8` (was the payload valid UTF-8) and `_tick` (the parsed struct, in
    the message's names, with `_corrupt` set where a field failed). Invalid UTF-8 is kept
    loss-free in `value_base64`; `value` holds a readable version.
    """
    names = {**DEFAULT_FIELDS, **fields}
    schema = StructType(
        [StructField(names[f.name], f.dataType) for f in TICK_JSON.fields]
        + [StructField(CORRUPT, StringType())]
    )

    def _parse(kafka: DataFrame) -> DataFrame:
        text = F.col("value").cast("string")
        utf8 = F.is_valid_utf8(text)
        tick = F.when(utf8, F.from_json(text, schema, {"columnNameOfCorruptRecord": CORRUPT}))
        field = F.col("_tick").getField
        return kafka.select(
            F.when(utf8, text).otherwise(F.make_valid_utf8(text)).alias("value"),
            F.when(~utf8, F.base64("value")).alias("value_base64"),
            "topic",
            "partition",
            "offset",
            F.col("timestamp").alias("kafka_timestamp"),
            F.current_timestamp().alias("ingested_at"),
            utf8.alias("_utf8"),
            tick.alias("_tick"),
        ).select(
            "*",
            *[
                field(names[name]).alias(name)
                for name in ("symbol", "price", "volume", "open", "high", "low", "trade_id")
            ],
            event_time_of(field(names["timestamp"])).alias("event_time"),
        )

    return _parse


OffsetRange = tuple[str, int, int, int]  # topic, partition, first offset, last offset


def within_offsets(ranges: Sequence[OffsetRange]) -> Column:
    """True for records whose Kafka (topic, partition, offset) lies in one of `ranges`: the
    records of one micro-batch, wherever they were written (Bronze, Silver and Quarantine all
    keep the Kafka coordinates)."""
    inside = [
        (F.col("topic") == topic)
        & (F.col("partition") == partition)
        & F.col("offset").between(first, last)
        for topic, partition, first, last in ranges
    ]
    return reduce(operator.or_, inside, F.lit(False))


def event_date(df: DataFrame) -> Column:
    """Partition date: the tick's event date when known, else the day Kafka received it."""
    return F.to_date(F.coalesce(df["event_time"], df["kafka_timestamp"]))


def to_bronze(parsed: DataFrame) -> DataFrame:
    """Select exactly the Bronze table's columns (parsed fields are null where parsing failed)."""
    return parsed.withColumn("date", event_date(parsed)).select(*BRONZE.fieldNames())
