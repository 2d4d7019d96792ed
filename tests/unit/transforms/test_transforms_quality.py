"""Parsing and validation rules, one bad message per rule, on small in-memory DataFrames."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from financelake.transforms.bronze import parse_ticks, to_bronze, within_offsets
from financelake.transforms.quality import validate_ticks

GOOD = (
    '{"symbol": "AAPL", "price": 182.45, "volume": 532145, "open": 180.12, '
    '"high": 184.01, "low": 179.85, "timestamp": "2026-01-07T15:42:10.123456"}'
)


def kafka_rows(spark: SparkSession, values: list[bytes]) -> DataFrame:
    """Rows shaped like Spark's Kafka source output."""
    rows = [
        (b"k", value, "ticks", 0, offset, datetime(2026, 1, 7, 16, 0), 0)
        for offset, value in enumerate(values)
    ]
    schema = (
        "key binary, value binary, topic string, partition int, offset long, "
        "timestamp timestamp, timestampType int"
    )
    return spark.createDataFrame(rows, schema)


def reasons(spark: SparkSession, values: list[bytes]) -> list[str | None]:
    validated = kafka_rows(spark, values).transform(parse_ticks).transform(validate_ticks)
    return [row.reason for row in validated.orderBy("offset").select("reason").collect()]


def with_field(**changes: object) -> bytes:
    import json

    tick = json.loads(GOOD)
    for key, value in changes.items():
        if value is _MISSING:
            del tick[key]
        else:
            tick[key] = value
    return json.dumps(tick).encode()


_MISSING = object()


def test_a_valid_tick_has_no_reason_and_is_parsed(spark: SparkSession) -> None:
    parsed = kafka_rows(spark, [GOOD.encode()]).transform(parse_ticks).transform(validate_ticks)
    row = parsed.transform(to_bronze).first()
    assert row is not None
    assert (row.symbol, row.price, row.volume, row.high, row.low) == (
        "AAPL",
        182.45,
        532145,
        184.01,
        179.85,
    )
    assert row.event_time == datetime(2026, 1, 7, 15, 42, 10, 123456)
    assert parsed.first().reason is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"not json at all", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (with_field(price=_MISSING), "missing field 'price'"),
        (with_field(volume=None), "missing field 'volume'"),
        (with_field(price="182.45"), "field 'price' is not a number"),
        (with_field(volume=5.5), "field 'volume' is not an integer"),
        (with_field(symbol=123), "field 'symbol' is not a string"),
        (with_field(low=-2.0), "low must be a positive finite number, got -2.0"),
        (with_field(price=0.0, low=0.0), "price must be a positive finite number, got 0.0"),
        (with_field(open=float("nan")), "open must be a positive finite number, got NaN"),
        (with_field(high=float("inf")), "high must be a positive finite number, got Infinity"),
        (with_field(volume=0), "volume must be a positive integer, got 0"),
        (with_field(high=170.0, low=179.85), "high < low"),
        (with_field(price=190.0), "price outside [low, high]"),
        (with_field(timestamp="yesterday"), "unparseable timestamp 'yesterday'"),
        (with_field(symbol="  "), "empty symbol"),
    ],
)
def test_each_rule_names_its_reason(spark: SparkSession, value: bytes, reason: str) -> None:
    assert reasons(spark, [value]) == [reason]


def test_invalid_utf8_is_kept_loss_free(spark: SparkSession) -> None:
    raw = b"\xff\xfe not utf-8"
    bronze = kafka_rows(spark, [raw]).transform(parse_ticks).transform(to_bronze)
    row = bronze.select("value", F.unbase64("value_base64").alias("raw")).first()
    assert row is not None and bytes(row.raw) == raw


def test_naive_timestamps_are_utc_and_offsets_are_honoured(spark: SparkSession) -> None:
    values = [
        with_field(timestamp="2026-01-07T15:42:10"),
        with_field(timestamp="2026-01-07T15:42:10+02:00"),
        with_field(timestamp="2026-01-07T15:42:10Z"),
    ]
    parsed = kafka_rows(spark, values).transform(parse_ticks).orderBy("offset")
    times = [row.event_time for row in parsed.select("event_time").collect()]
    assert times == [
        datetime(2026, 1, 7, 15, 42, 10),
        datetime(2026, 1, 7, 13, 42, 10),
        datetime(2026, 1, 7, 15, 42, 10),
    ]


def test_within_offsets_selects_one_batch_of_kafka_records(spark: SparkSession) -> None:
    records = spark.createDataFrame(
        [("t", 0, 4), ("t", 0, 5), ("t", 0, 9), ("t", 1, 5), ("u", 0, 5)],
        "topic string, partition int, offset long",
    )
    picked = records.where(within_offsets([("t", 0, 5, 9), ("t", 1, 0, 5)]))
    assert sorted(tuple(row) for row in picked.collect()) == [("t", 0, 5), ("t", 0, 9), ("t", 1, 5)]
    assert records.where(within_offsets([])).count() == 0
