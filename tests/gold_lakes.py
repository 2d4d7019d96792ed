"""Synthetic Gold lakes for the training tests: bars from a known process, written with the
pipeline's schema, and Settings for a lake that needs Spark and Delta but no broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from financelake.config import Settings
from financelake.schemas import GOLD
from financelake.streams.sinks import DeltaSink
from financelake.training import CycleResult, gold_version, run_training_cycle


def synthetic_gold(
    n_symbols: int,
    n_bars: int,
    *,
    seed: int,
    momentum: float = 0.0,
    start: str = "2024-01-01",
    gap_rate: float = 0.0,
) -> pd.DataFrame:
    """Gold bars (GOLD columns) of 1-minute windows from a log-price process per symbol.

    Bar-to-bar log returns follow r_t = momentum x r_(t-1) + e_t, e_t ~ N(0, 1%): momentum 0 is
    a driftless random walk (nothing to predict), momentum > 0 a persistent trend (a rise tends to
    follow a rise). Symbols start at prices from 5 to 5,000 so the features must be scale-free.
    Each bar's last tick is 59 s into its window. `gap_rate` drops that share of bars at random.
    """
    rng = np.random.default_rng(seed)
    frames = []
    starts = pd.date_range(start, periods=n_bars, freq="1min")
    for k in range(n_symbols):
        shocks = rng.normal(0.0, 0.01, n_bars)
        returns = np.empty(n_bars)
        previous = 0.0
        for t in range(n_bars):
            previous = momentum * previous + shocks[t]
            returns[t] = previous
        close = 5.0 * 1000 ** (k / max(n_symbols - 1, 1)) * np.exp(np.cumsum(returns))
        open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.001, n_bars))
        ticks = rng.integers(1, 30, n_bars)
        single = ticks == 1
        open_ = np.where(single, close, open_)
        spread = np.abs(rng.normal(0, 0.002, n_bars))
        high = np.maximum(open_, close) * (1 + np.where(single, 0, spread))
        low = np.minimum(open_, close) / (1 + np.where(single, 0, spread))
        avg = (open_ + close + high + low) / 4
        volatility = np.where(single, 0.0, (high - low) / 4)
        frame = pd.DataFrame(
            {
                "symbol": f"S{k:03d}",
                "window_start": starts,
                "window_end": starts + pd.Timedelta(minutes=1),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "avg_price": avg,
                "price_volatility": volatility,
                "total_volume": rng.lognormal(8, 1, n_bars).astype("int64") * ticks,
                "vwap": avg,
                "tick_count": ticks.astype("int64"),
                "avg_price_change": returns / np.maximum(ticks, 1) * 100,
                "last_tick_at": starts + pd.Timedelta(seconds=59),
                "date": starts.date,
            }
        )
        if gap_rate:
            keep = rng.random(n_bars) >= gap_rate
            keep[[0, -1]] = True
            frame = frame[keep]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[GOLD.fieldNames()]


def write_gold(spark: SparkSession, path: str | Path, bars: pd.DataFrame) -> int:
    """Append bars to a Gold Delta table (created with the pipeline's schema if missing).

    Returns the table's version afterwards (auto-compaction may add commits of its own).
    """
    sink = DeltaSink(spark, str(path), GOLD)
    sink.setup()
    spark.createDataFrame(bars, GOLD).write.format("delta").mode("append").save(str(path))
    return gold_version(spark, str(path))


def lake_settings(root: Path, **overrides: Any) -> Settings:
    """Settings for a lake under `root` (no broker: the training cycle only needs Spark+Delta)."""
    options: dict[str, Any] = {
        "lake_root": str(root / "lake"),
        "spark_master": "local[2]",
        "spark_ui": False,
        "shuffle_partitions": 2,
        "rl_episodes": 2,
        # Small lakes (200 bars a symbol, 40 test bars): figures from so few bars are
        # small-sample; the default minimum of 100 would skip them.
        "min_test_bars": 20,
    }
    return Settings(**{**options, **overrides})


@dataclass(frozen=True)
class TrainedLake:
    settings: Settings
    version: int
    """Gold's version when trained."""
    result: CycleResult


def trained_lake(
    spark: SparkSession, root: Path, bars: pd.DataFrame, run_id: str, **overrides: Any
) -> TrainedLake:
    """A lake under `root` whose Gold holds `bars`, trained once as `run_id`."""
    settings = lake_settings(root, **overrides)
    version = write_gold(spark, settings.table_path("gold"), bars)
    return TrainedLake(settings, version, run_training_cycle(spark, settings, run_id=run_id))
