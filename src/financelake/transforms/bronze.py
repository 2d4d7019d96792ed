"""Kafka records -> Bronze rows: raw text, Kafka coordinates and the parsed tick fields."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from financelake.schemas import BRONZE, TICK_JSON

CORRUPT = "_corrupt"
# The tick schema plus a column where Spark keeps the text of a record it could not fully parse.
_PARSE_SCHEMA = StructType([*TICK_JSON.fields, StructField(CORRUPT, StringType())])


def parse_ticks(kafka: DataFrame) -> DataFrame:
    """Decode Kafka's binary `value` and parse the tick JSON, keeping every record.

    Adds the Bronze columns plus two private ones used by validation: `_utf8` (was the payload
    valid UTF-8) and `_tick` (the parsed struct, with `_corrupt` set where a field failed).
    Invalid UTF-8 is kept loss-free in `value_base64`; `value` holds a readable version.
    """
    text = F.col("value").cast("string")
    utf8 = F.is_valid_utf8(text)
    tick = F.when(utf8, F.from_json(text, _PARSE_SCHEMA, {"columnNameOfCorruptRecord": CORRUPT}))
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
        *[F.col(f"_tick.{name}").alias(name) for name in ("symbol", "price", "volume")],
        *[F.col(f"_tick.{name}").alias(name) for name in ("open", "high", "low")],
        F.col("_tick.timestamp").try_cast("timestamp").alias("event_time"),
    )


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
