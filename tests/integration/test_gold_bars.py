"""Gold from a Silver table written directly: per-symbol closing, and replayed batches.

Silver is written here with Spark rather than through ingest, so that each symbol's clock is
exactly what the test says (ingest's lateness rule is tested in test_pipeline.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from support import read_bars, read_table

from financelake.config import Settings
from financelake.pipeline import await_query
from financelake.streams.gold import start_gold
from financelake.streams.sinks import Lake

T0 = datetime(2026, 1, 7, 14, 30)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A lake of its own (no broker: Silver is written directly)."""
    return Settings(lake_root=str(tmp_path / "lake"), spark_master="local[2]", shuffle_partitions=2)


@pytest.fixture
def lake(spark: SparkSession, settings: Settings) -> Lake:
    tables = Lake.at(spark, settings)
    tables.setup()
    return tables


def append_silver(spark: SparkSession, lake: Lake, symbol: str, seconds: list[float]) -> None:
    """One Silver commit of `symbol` ticks at T0 + seconds (price 100 + i, volume 10)."""
    rows = []
    for i, second in enumerate(seconds):
        at = T0 + timedelta(seconds=second)
        price, change = 100.0 + i, float(i)
        ohlc = (100.0, 200.0, 50.0, 150.0)  # open, high, low, price_range
        rows.append((symbol, at, price, 10, *ohlc, change, "t", 0, i, at, at.date(), None))
    lake.silver.append(spark.createDataFrame(rows, lake.silver.schema), "test")


def bar_keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    starts = pd.to_datetime(frame.window_start).dt.strftime("%H:%M")
    return set(zip(frame.symbol, starts, strict=True))


def drain_gold(spark: SparkSession, settings: Settings) -> None:
    await_query(start_gold(spark, settings, available_now=True), settings)


def test_a_slow_symbols_bar_is_closed_by_its_own_clock_not_by_a_fast_symbol(
    spark: SparkSession, settings: Settings, lake: Lake
) -> None:
    # AAPL runs ten minutes ahead; MSFT has ticked only in the first 20 seconds.
    append_silver(spark, lake, "AAPL", [s * 10.0 for s in range(61)])  # 14:30:00 .. 14:40:00
    append_silver(spark, lake, "MSFT", [5.0, 20.0])
    drain_gold(spark, settings)

    aapl_closed = {("AAPL", f"14:{m}") for m in range(30, 39)}  # 14:39 ends 14:40, +30 s > clock
    assert bar_keys(read_table(settings, "gold")) == aapl_closed
    assert bar_keys(read_table(settings, "gold_live")) == {
        ("AAPL", "14:39"),
        ("AAPL", "14:40"),
        ("MSFT", "14:30"),
    }

    # A global watermark (14:39:30) would have closed MSFT's 14:30 bar; its own clock has not,
    # so its tick at 14:30:50 still joins that bar. At 14:31:30 its clock closes it.
    append_silver(spark, lake, "MSFT", [50.0])
    drain_gold(spark, settings)
    assert ("MSFT", "14:30") not in bar_keys(read_table(settings, "gold"))
    append_silver(spark, lake, "MSFT", [90.0])
    drain_gold(spark, settings)

    gold = read_table(settings, "gold")
    assert bar_keys(gold) == aapl_closed | {("MSFT", "14:30")}
    msft = gold[gold.symbol == "MSFT"].iloc[0]
    assert (msft.tick_count, msft.open, msft.close) == (3, 100.0, 100.0)
    assert bar_keys(read_table(settings, "gold_live")) == {
        ("AAPL", "14:39"),
        ("AAPL", "14:40"),
        ("MSFT", "14:31"),
    }


def test_a_replayed_gold_batch_appends_its_closed_bars_only_once(
    spark: SparkSession, settings: Settings, lake: Lake
) -> None:
    append_silver(spark, lake, "AAPL", [s * 5.0 for s in range(40)])  # 14:30:00 .. 14:33:15
    drain_gold(spark, settings)
    append_silver(spark, lake, "AAPL", [200.0 + s * 5.0 for s in range(40)])  # .. 14:36:35
    drain_gold(spark, settings)
    before = read_table(settings, "gold")
    versions = len(spark.sql(f"DESCRIBE HISTORY delta.`{lake.gold.path}`").collect())
    assert len(before) == 6  # 14:30 .. 14:35 closed (clock 14:36:35)

    # A crash after the last batch's Gold commit, before its checkpoint commit: Spark runs that
    # batch again from its recorded offsets and state; Delta skips the append it already holds.
    commits = Path(settings.checkpoint_path("gold")) / "commits"
    last = max(int(path.name) for path in commits.iterdir() if path.name.isdigit())
    (commits / str(last)).unlink()
    (commits / f".{last}.crc").unlink(missing_ok=True)  # the local file system's checksum
    drain_gold(spark, settings)

    after = read_table(settings, "gold")
    assert len(after) == 6
    assert after.groupby(["symbol", "window_start"]).size().max() == 1
    assert len(spark.sql(f"DESCRIBE HISTORY delta.`{lake.gold.path}`").collect()) == versions
    assert read_bars(settings).tick_count.sum() == 80
