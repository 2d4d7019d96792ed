"""The pipeline through the real broker: quarantine, deduplication, lateness, exact Gold bars."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from support import produce_raw, produce_ticks, read_bars, read_table, run_cli

from financelake.config import Settings
from financelake.market.publisher import produce
from financelake.market.simulator import Tick
from financelake.pipeline import run_available_now


def bars_from_ticks(ticks: list[Tick], bar: str = "1min") -> pd.DataFrame:
    """Gold bars computed directly from the produced ticks, with pandas."""
    frame = pd.DataFrame(
        {
            "symbol": [t.symbol for t in ticks],
            "event_time": pd.to_datetime([t.timestamp for t in ticks]),
            "price": [t.price for t in ticks],
            "volume": [t.volume for t in ticks],
        }
    ).sort_values("event_time")
    frame["window_start"] = frame.event_time.dt.floor(bar)
    frame["pv"] = frame.price * frame.volume
    grouped = frame.groupby(["symbol", "window_start"])
    bars = grouped.agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        total_volume=("volume", "sum"),
        tick_count=("price", "size"),
        pv=("pv", "sum"),
    ).reset_index()
    bars["vwap"] = bars.pv / bars.total_volume
    return bars.drop(columns="pv")


COLUMNS = ["open", "high", "low", "close", "total_volume", "vwap", "tick_count"]


def assert_same_bars(gold: pd.DataFrame, expected: pd.DataFrame) -> None:
    gold = gold.assign(window_start=pd.to_datetime(gold.window_start).dt.tz_localize(None))
    key = ["symbol", "window_start"]
    got = gold.sort_values(key).reset_index(drop=True)[key + COLUMNS]
    want = expected.sort_values(key).reset_index(drop=True)[key + COLUMNS]
    assert len(got) == len(want)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)


def test_every_gold_bar_equals_the_bar_of_the_produced_ticks(
    spark: SparkSession, settings: Settings
) -> None:
    ticks = produce_ticks(settings, 3000, model="trend", tick_interval_s=5.0)
    run_available_now(spark, settings)
    silver = read_table(settings, "silver")
    assert len(silver) == 3000
    assert len(read_table(settings, "bronze")) == 3000
    assert read_table(settings, "quarantine").empty
    assert_same_bars(read_bars(settings), bars_from_ticks(ticks))
    first = silver.sort_values("offset").iloc[0]
    assert first.price_range == pytest.approx(first.high - first.low)
    assert first.price_change_pct == pytest.approx((first.price - first.open) / first.open * 100)


def _tick(**changes: object) -> bytes:
    tick = {
        "symbol": "AAPL",
        "price": 182.45,
        "volume": 5321,
        "open": 180.12,
        "high": 184.01,
        "low": 179.85,
        "timestamp": "2026-01-07T14:31:00.000001",
    }
    tick.update(changes)  # type: ignore[arg-type]
    return json.dumps({k: v for k, v in tick.items() if v is not _DROP}).encode()


_DROP = object()
BAD = {
    b"\xc3\x28 broken": "not UTF-8",
    b"{not json": "not JSON",
    b'"just a string"': "not a JSON object",
    _tick(price=_DROP): "missing field 'price'",
    _tick(volume="many"): "field 'volume' is not an integer",
    _tick(price=-3.0): "price must be a positive finite number, got -3.0",
    _tick(volume=0): "volume must be a positive integer, got 0",
    _tick(high=170.0): "high < low",
    _tick(price=190.0): "price outside [low, high]",
    _tick(timestamp="07/01/2026 3pm"): "unparseable timestamp '07/01/2026 3pm'",
    _tick(symbol=""): "empty symbol",
}


def test_bad_messages_are_quarantined_with_their_reason_and_valid_ticks_flow(
    spark: SparkSession, settings: Settings
) -> None:
    ticks = produce_ticks(settings, 300)
    produce_raw(settings, list(BAD))
    produce_ticks(settings, 300, seed=2, start=datetime(2026, 1, 7, 15, 30))
    run_available_now(spark, settings)

    quarantine = read_table(settings, "quarantine")
    got = {
        (row.value if row.value_base64 is None else row.value_base64): row.reason
        for row in quarantine.itertuples()
    }
    import base64

    want = {
        (base64.b64encode(value).decode() if value.startswith(b"\xc3") else value.decode()): why
        for value, why in BAD.items()
    }
    assert got == want
    assert len(read_table(settings, "silver")) == 600
    bronze = read_table(settings, "bronze")
    assert len(bronze) == 600 + len(BAD)
    assert bronze.groupby(["partition", "offset"]).size().max() == 1
    assert ticks[0].symbol in set(read_table(settings, "silver").symbol)


def test_republished_and_late_ticks_are_quarantined_not_lost(
    spark: SparkSession, settings: Settings
) -> None:
    ticks = produce_ticks(settings, 600, tick_interval_s=5.0)
    run_available_now(spark, settings)
    # The latest ticks again (a producer retry without idempotence), and one tick far behind.
    produce_raw(settings, [t.to_json() for t in ticks[-12:]])
    late = ticks[0]._replace(timestamp=(ticks[0].event_time - timedelta(hours=1)).isoformat())
    produce_raw(settings, [late.to_json()])
    run_available_now(spark, settings)

    silver = read_table(settings, "silver")
    assert len(silver) == 600
    assert silver.groupby(["symbol", "event_time"]).size().max() == 1
    reasons = read_table(settings, "quarantine").reason
    assert reasons.str.startswith("duplicate").sum() == 12
    assert reasons.str.startswith("late").sum() == 1
    assert len(read_table(settings, "bronze")) == 613  # bronze keeps every message


def test_replaying_an_ohlcv_file_reproduces_its_bars(
    spark: SparkSession, settings: Settings, tmp_path: Path
) -> None:
    csv = tmp_path / "daily.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2026-01-05,100.5,104.25,99.75,103.0,103.0,120345\n"
        "2026-01-06,103.0,103.5,97.125,98.0,98.0,98765\n"
        "2026-01-07,98.0,101.0,98.0,101.0,101.0,5\n"
    )
    daily = settings.model_copy(update={"bar_interval": "1 day"})
    report = produce(daily, replay=csv, symbol="ACME")
    assert report.ok
    run_available_now(spark, daily)
    gold = read_bars(daily).sort_values("window_start")
    assert list(gold.open) == [100.5, 103.0, 98.0]
    assert list(gold.high) == [104.25, 103.5, 101.0]
    assert list(gold.low) == [99.75, 97.125, 98.0]
    assert list(gold.close) == [103.0, 98.0, 101.0]
    assert list(gold.total_volume) == [120345, 98765, 5]
    assert set(gold.symbol) == {"ACME"}


def test_run_fails_fast_and_clearly(settings: Settings, tmp_path: Path) -> None:
    unreachable = run_cli(
        ["run", "--available-now", "--bootstrap-servers", "127.0.0.1:9"],
        settings,
        timeout=60,
        FINANCELAKE_KAFKA_TIMEOUT_S="5",
    )
    assert unreachable.returncode != 0
    assert "did not answer" in unreachable.stderr

    missing = run_cli(["run", "--available-now", "--topic", "no_such_topic"], settings, timeout=60)
    assert missing.returncode != 0
    assert "topic 'no_such_topic' does not exist" in missing.stderr

    blocked = tmp_path / "read-only"
    blocked.write_text("a file where the lake root should be")
    unwritable = run_cli(
        ["run", "--available-now", "--lake-root", str(blocked)], settings, timeout=60
    )
    assert unwritable.returncode != 0
    assert "is not writable" in unwritable.stderr
