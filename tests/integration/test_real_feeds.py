"""Shapes real feeds have, through the real broker: future-dated and backfilled ticks, trades
that share a timestamp, trade ticks without OHLC, multi-symbol replay files, epoch timestamps
and other feeds' field names."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka.admin import AdminClient
from pyspark.sql import SparkSession
from support import START, produce_raw, produce_ticks, read_bars, read_table, run_cli

from financelake.config import Settings
from financelake.kafka.client import confluent_config
from financelake.pipeline import run_available_now


def trade(
    symbol: str, at: datetime | str | int, price: float, volume: int, **extra: object
) -> bytes:
    stamp = at.isoformat() if isinstance(at, datetime) else at
    return json.dumps(
        {"symbol": symbol, "price": price, "volume": volume, "timestamp": stamp, **extra}
    ).encode()


def assert_each_record_once(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every Bronze row is in exactly one of Silver and Quarantine; returns both."""
    bronze = read_table(settings, "bronze")
    silver = read_table(settings, "silver")
    quarantine = read_table(settings, "quarantine")
    key = ["partition", "offset"]
    both = pd.concat([silver[key], quarantine[key]])
    assert not both.duplicated().any()
    assert sorted(map(tuple, both.to_numpy())) == sorted(map(tuple, bronze[key].to_numpy()))
    return silver, quarantine


def test_a_far_future_tick_is_quarantined_and_makes_no_tick_late(
    spark: SparkSession, settings: Settings
) -> None:
    before = produce_ticks(settings, 300, symbols=("AAPL", "MSFT"))
    run_available_now(spark, settings)
    produce_raw(settings, [trade("AAPL", datetime(2099, 1, 7, 14, 30), 180.0, 10)])
    run_available_now(spark, settings)
    after = produce_ticks(
        settings, 300, seed=2, symbols=("AAPL", "MSFT"), start=START + timedelta(hours=1)
    )
    run_available_now(spark, settings)

    silver, quarantine = assert_each_record_once(settings)
    assert len(silver) == len(before) + len(after)
    assert list(quarantine.reason_code) == ["future"]
    assert quarantine.reason.iloc[0].startswith("future: event time 2099-01-07 14:30:00")


def test_a_symbol_backfilled_two_hours_behind_is_not_late(
    spark: SparkSession, settings: Settings
) -> None:
    live = produce_ticks(settings, 240, symbols=("AAPL",), tick_interval_s=5.0)
    run_available_now(spark, settings)
    # Yesterday's file for MSFT, two hours behind, replayed while AAPL goes on streaming.
    backfill = produce_ticks(
        settings, 240, seed=3, symbols=("MSFT",), start=START - timedelta(hours=2)
    )
    more = produce_ticks(
        settings, 240, seed=4, symbols=("AAPL",), start=START + timedelta(minutes=20)
    )
    # One AAPL tick an hour behind AAPL's own clock is still late.
    late = live[0]._replace(timestamp=(START - timedelta(hours=1)).isoformat())
    produce_raw(settings, [late.to_json()])
    run_available_now(spark, settings)

    silver, quarantine = assert_each_record_once(settings)
    assert len(silver) == len(live) + len(backfill) + len(more)
    assert (silver.symbol == "MSFT").sum() == len(backfill)
    assert list(quarantine.reason_code) == ["late"]
    assert quarantine.reason.iloc[0].startswith("late: event time")
    gold = read_bars(settings)  # closed bars and the ones still open
    assert (gold.symbol == "MSFT").sum() == 20  # 240 ticks 5 s apart: 20 one-minute bars


def test_trades_sharing_a_timestamp_are_kept_and_a_resend_is_a_duplicate(
    spark: SparkSession, settings: Settings
) -> None:
    at = START
    first, second = trade("AAPL", at, 180.0, 10), trade("AAPL", at, 180.5, 7)
    numbered = trade("MSFT", at, 370.0, 5, trade_id=41)
    renumbered = trade("MSFT", at + timedelta(seconds=1), 370.1, 6, trade_id=41)
    # One key: one partition, so Kafka offsets give the order the copies were sent in.
    produce_raw(settings, [first, second, first, numbered, renumbered], key=b"feed")
    run_available_now(spark, settings)
    again = [second, trade("AAPL", at + timedelta(seconds=1), 180.5, 7)]
    produce_raw(settings, again, key=b"feed")
    run_available_now(spark, settings)

    silver, quarantine = assert_each_record_once(settings)
    kept = sorted(zip(silver.symbol, silver.price, silver.volume, strict=True))
    assert kept == [("AAPL", 180.0, 10), ("AAPL", 180.5, 7), ("AAPL", 180.5, 7), ("MSFT", 370.0, 5)]
    assert sorted(quarantine.offset) == [2, 4, 5]
    assert set(quarantine.reason_code) == {"duplicate"}
    assert quarantine.reason.str.startswith("duplicate:").all()
    assert list(silver[silver.symbol == "MSFT"].trade_id) == ["41"]


def test_trade_ticks_without_ohlc_flow_to_silver_and_gold(
    spark: SparkSession, settings: Settings
) -> None:
    prices = [100.0 + (i % 7) - (i % 3) for i in range(120)]
    produce_raw(
        settings,
        [trade("ACME", START + timedelta(seconds=i), p, 1 + i) for i, p in enumerate(prices)],
    )
    run_available_now(spark, settings)

    silver, quarantine = assert_each_record_once(settings)
    assert quarantine.empty
    assert len(silver) == 120
    for column in ("open", "high", "low", "price_range", "price_change_pct"):
        assert silver[column].isna().all(), column
    gold = read_bars(settings).sort_values("window_start")
    assert list(gold.open) == [prices[0], prices[60]]
    assert list(gold.close) == [prices[59], prices[119]]
    assert list(gold.high) == [max(prices[:60]), max(prices[60:])]
    assert list(gold.low) == [min(prices[:60]), min(prices[60:])]
    assert list(gold.total_volume) == [sum(range(1, 61)), sum(range(61, 121))]


BARS = pd.DataFrame(
    {
        "Date": ["2026-01-05", "2026-01-05", "2026-01-06", "2026-01-06", "2026-01-07"],
        "Symbol": ["AAPL", "MSFT", "AAPL", "MSFT", "MSFT"],
        "Open": [100.5, 370.0, 103.0, 369.0, 368.0],
        "High": [104.25, 371.0, 103.5, 373.25, 370.0],
        "Low": [99.75, 366.5, 97.125, 369.0, 365.0],
        "Close": [103.0, 370.5, 98.0, 370.5, 367.875],
        "Volume": [120345, 25258, 98765, 23083, 20901],
    }
)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_multi_symbol_file_replays_bar_for_bar(
    spark: SparkSession, settings: Settings, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"bars.{suffix}"
    if suffix == "csv":
        BARS.to_csv(path, index=False)
    else:
        indexed = BARS.copy()  # an unnamed index of dates, as pandas writes a time index
        indexed.set_index(pd.to_datetime(indexed.pop("Date")).rename(None)).to_parquet(path)
    replay = run_cli(["produce", "--replay", str(path)], settings)
    assert replay.returncode == 0, replay.stderr
    final = re.search(r"replayed 5 of 5 rows \((\d+) of (\d+) ticks\) from (.+)$", replay.stdout)
    assert final is not None, replay.stdout
    assert final[1] == final[2] and final[3] == str(path)
    daily = settings.model_copy(update={"bar_interval": "1 day"})
    run_available_now(spark, daily)

    silver, _ = assert_each_record_once(daily)
    assert len(silver) == int(final[1])
    gold = read_bars(daily).sort_values(["symbol", "window_start"])
    want = BARS.assign(Date=pd.to_datetime(BARS.Date)).sort_values(["Symbol", "Date"])
    assert list(gold.symbol) == list(want.Symbol)
    for ours, theirs in [("open", "Open"), ("high", "High"), ("low", "Low"), ("close", "Close")]:
        assert list(gold[ours]) == list(want[theirs]), ours
    assert list(gold.total_volume) == list(want.Volume)


def test_epoch_milliseconds_through_a_field_map(spark: SparkSession, settings: Settings) -> None:
    relay = settings.model_copy(update={"field_map": "symbol=s,price=p,volume=v,timestamp=t"})
    epoch_ms = int((START - datetime(1970, 1, 1)).total_seconds() * 1000)
    messages = [
        json.dumps({"s": "AAPL", "p": 182.4 + i / 100, "v": 100 + i, "t": epoch_ms + i * 250})
        for i in range(8)
    ]
    messages.append(json.dumps({"s": "AAPL", "p": 182.4, "v": 1, "t": 17678005301}))
    messages.append(json.dumps({"s": "AAPL", "p": 182.4, "t": epoch_ms}))
    produce_raw(relay, [m.encode() for m in messages])
    run_available_now(spark, relay)

    silver, quarantine = assert_each_record_once(relay)
    times = sorted(pd.to_datetime(silver.event_time).dt.tz_localize(None))
    assert times == [START + timedelta(milliseconds=250 * i) for i in range(8)]
    assert sorted(quarantine.reason_code) == ["ambiguous_timestamp", "missing_field"]
    assert "missing field 'v'" in set(quarantine.reason)


def test_a_replay_file_with_a_missing_column_is_refused_and_nothing_is_sent(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "no_volume.csv"
    BARS.drop(columns="Volume").to_csv(path, index=False)
    refused = run_cli(["produce", "--replay", str(path)], settings)
    assert refused.returncode != 0
    assert str(path) in refused.stderr and "missing column(s) Volume" in refused.stderr
    topics = AdminClient(confluent_config(settings)).list_topics(timeout=30).topics
    assert settings.topic not in topics
