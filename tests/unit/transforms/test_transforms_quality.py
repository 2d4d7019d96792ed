"""Parsing and validation rules, one bad message per rule, on small in-memory DataFrames."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from financelake.transforms.bronze import parse_ticks, to_bronze, within_offsets
from financelake.transforms.quality import ReasonCode, validate_ticks

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


def rejections(
    spark: SparkSession, values: list[bytes], fields: dict[str, str] | None = None
) -> list[tuple[str | None, str | None]]:
    """(reason, reason_code) of each message, in order."""
    validated = (
        kafka_rows(spark, values)
        .transform(parse_ticks(fields or {}))
        .transform(validate_ticks(fields or {}, max_future_s=300))
    )
    rows = validated.orderBy("offset").select("reason", "reason_code").collect()
    return [(row.reason, row.reason_code) for row in rows]


def reasons(spark: SparkSession, values: list[bytes]) -> list[str | None]:
    return [reason for reason, _ in rejections(spark, values)]


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
    parsed = kafka_rows(spark, [GOOD.encode()]).transform(parse_ticks()).transform(validate_ticks())
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
    ("value", "reason", "code"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8", "not_utf8"),
        (b"not json at all", "not JSON", "not_json"),
        (b"[1, 2, 3]", "not a JSON object", "not_object"),
        (with_field(price=_MISSING), "missing field 'price'", "missing_field"),
        (with_field(volume=None), "missing field 'volume'", "missing_field"),
        (with_field(price="182.45"), "field 'price' is not a number", "wrong_type"),
        (with_field(volume=5.5), "field 'volume' is not an integer", "wrong_type"),
        (with_field(symbol=123), "field 'symbol' is not a string", "wrong_type"),
        (with_field(open="x"), "field 'open' is not a number", "wrong_type"),
        (with_field(low=-2.0), "low must be a positive finite number, got -2.0", "not_positive"),
        (
            with_field(price=0.0, low=0.0),
            "price must be a positive finite number, got 0.0",
            "not_positive",
        ),
        (
            with_field(open=float("nan")),
            "open must be a positive finite number, got NaN",
            "not_positive",
        ),
        (
            with_field(high=float("inf")),
            "high must be a positive finite number, got Infinity",
            "not_positive",
        ),
        (with_field(volume=0), "volume must be a positive integer, got 0", "not_positive"),
        (with_field(high=170.0, low=179.85), "high < low", "high_below_low"),
        (with_field(price=190.0), "price outside [low, high]", "price_outside_range"),
        (with_field(timestamp="yesterday"), "unparseable timestamp 'yesterday'", "bad_timestamp"),
        (with_field(symbol="  "), "empty symbol", "empty_symbol"),
    ],
)
def test_each_rule_names_its_reason_and_code(
    spark: SparkSession, value: bytes, reason: str, code: str
) -> None:
    assert rejections(spark, [value]) == [(reason, code)]
    assert code in set(ReasonCode)


def test_trade_ticks_need_no_open_high_low(spark: SparkSession) -> None:
    trade = with_field(open=_MISSING, high=_MISSING, low=_MISSING)
    only_low = with_field(open=_MISSING, high=_MISSING, low=190.0)
    json_null = with_field(open=None, high=None, low=None)
    assert reasons(spark, [trade, only_low, json_null]) == [
        None,
        "price outside [low, high]",
        None,
    ]


EPOCH_S = 1767800530  # 2026-01-07 15:42:10 UTC


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (EPOCH_S, datetime(2026, 1, 7, 15, 42, 10)),
        (EPOCH_S * 1000 + 123, datetime(2026, 1, 7, 15, 42, 10, 123000)),
        (EPOCH_S * 1_000_000 + 123456, datetime(2026, 1, 7, 15, 42, 10, 123456)),
        (EPOCH_S * 1_000_000_000 + 123456789, datetime(2026, 1, 7, 15, 42, 10, 123456)),
        (f"{EPOCH_S}.25", datetime(2026, 1, 7, 15, 42, 10, 250000)),
        (str(EPOCH_S * 1000), datetime(2026, 1, 7, 15, 42, 10)),
    ],
)
def test_epoch_timestamps_take_their_unit_from_their_magnitude(
    spark: SparkSession, stamp: object, expected: datetime
) -> None:
    parsed = kafka_rows(spark, [with_field(timestamp=stamp)]).transform(parse_ticks())
    assert [row.event_time for row in parsed.collect()] == [expected]
    assert reasons(spark, [with_field(timestamp=stamp)]) == [None]


@pytest.mark.parametrize("stamp", [17678005301, 12345, 176780053012345678901])
def test_epoch_timestamps_of_no_single_unit_are_quarantined(
    spark: SparkSession, stamp: int
) -> None:
    [(reason, code)] = rejections(spark, [with_field(timestamp=stamp)])
    assert code == "ambiguous_timestamp"
    assert reason is not None and str(stamp) in reason


def test_ticks_ahead_of_kafka_time_are_future(spark: SparkSession) -> None:
    # Kafka received these at 16:00; five minutes ahead is the limit
    inside = with_field(timestamp="2026-01-07T16:05:00")
    ahead = with_field(timestamp="2099-01-07T16:00:00")
    [ok, (reason, code)] = rejections(spark, [inside, ahead])
    assert ok == (None, None)
    assert code == "future" and reason is not None and reason.startswith("future:")


def test_a_field_map_reads_another_feeds_names(spark: SparkSession) -> None:
    fields = {"symbol": "s", "price": "p", "volume": "v", "timestamp": "t"}
    relay = b'{"s": "AAPL", "p": 182.4, "v": 100, "t": 1767800530123}'
    parsed = kafka_rows(spark, [relay]).transform(parse_ticks(fields)).first()
    assert parsed is not None
    assert (parsed.symbol, parsed.price, parsed.volume, parsed.open) == ("AAPL", 182.4, 100, None)
    assert parsed.event_time == datetime(2026, 1, 7, 15, 42, 10, 123000)
    assert rejections(spark, [relay, b'{"s": "AAPL", "p": 182.4, "t": 1}'], fields) == [
        (None, None),
        ("missing field 'v'", "missing_field"),
    ]


def test_invalid_utf8_is_kept_loss_free(spark: SparkSession) -> None:
    raw = b"\xff\xfe not utf-8"
    bronze = kafka_rows(spark, [raw]).transform(parse_ticks()).transform(to_bronze)
    row = bronze.select("value", F.unbase64("value_base64").alias("raw")).first()
    assert row is not None and bytes(row.raw) == raw


def test_naive_timestamps_are_utc_and_offsets_are_honoured(spark: SparkSession) -> None:
    values = [
        with_field(timestamp="2026-01-07T15:42:10"),
        with_field(timestamp="2026-01-07T15:42:10+02:00"),
        with_field(timestamp="2026-01-07T15:42:10Z"),
    ]
    parsed = kafka_rows(spark, values).transform(parse_ticks()).orderBy("offset")
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
