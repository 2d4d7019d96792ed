"""Explicit schemas of the tick message and of every Delta table; nothing is inferred."""

from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

TICK_FIELDS = ("symbol", "price", "volume", "open", "high", "low", "timestamp")

# The JSON message as published; `timestamp` stays text until validated.
TICK_JSON = StructType(
    [
        StructField("symbol", StringType()),
        StructField("price", DoubleType()),
        StructField("volume", LongType()),
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("timestamp", StringType()),
    ]
)

KAFKA_COORDINATES = [
    StructField("topic", StringType(), False),
    StructField("partition", IntegerType(), False),
    StructField("offset", LongType(), False),
    StructField("kafka_timestamp", TimestampType(), False),
]

BRONZE = StructType(
    [
        StructField("value", StringType()),
        StructField("value_base64", StringType()),
        *KAFKA_COORDINATES,
        StructField("ingested_at", TimestampType(), False),
        StructField("symbol", StringType()),
        StructField("price", DoubleType()),
        StructField("volume", LongType()),
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("event_time", TimestampType()),
        StructField("date", DateType(), False),
    ]
)

QUARANTINE = StructType(
    [
        StructField("value", StringType()),
        StructField("value_base64", StringType()),
        *KAFKA_COORDINATES,
        StructField("reason", StringType(), False),
        StructField("quarantined_at", TimestampType(), False),
        StructField("date", DateType(), False),
    ]
)

SILVER = StructType(
    [
        StructField("symbol", StringType(), False),
        StructField("event_time", TimestampType(), False),
        StructField("price", DoubleType(), False),
        StructField("volume", LongType(), False),
        StructField("open", DoubleType(), False),
        StructField("high", DoubleType(), False),
        StructField("low", DoubleType(), False),
        StructField("price_range", DoubleType(), False),
        StructField("price_change_pct", DoubleType(), False),
        *KAFKA_COORDINATES,
        StructField("date", DateType(), False),
    ]
)

GOLD = StructType(
    [
        StructField("symbol", StringType(), False),
        StructField("window_start", TimestampType(), False),
        StructField("window_end", TimestampType(), False),
        StructField("open", DoubleType(), False),
        StructField("high", DoubleType(), False),
        StructField("low", DoubleType(), False),
        StructField("close", DoubleType(), False),
        StructField("avg_price", DoubleType(), False),
        StructField("price_volatility", DoubleType(), False),
        StructField("total_volume", LongType(), False),
        StructField("vwap", DoubleType(), False),
        StructField("tick_count", LongType(), False),
        StructField("avg_price_change", DoubleType(), False),
        StructField("last_tick_at", TimestampType(), False),
        StructField("date", DateType(), False),
    ]
)

__all__ = [
    "BRONZE",
    "GOLD",
    "QUARANTINE",
    "SILVER",
    "TICK_FIELDS",
    "TICK_JSON",
]
