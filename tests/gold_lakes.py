"""Gold lakes for the training tests: synthetic bars (`financelake.market.gold_bars`) written
with the pipeline's schema, and Settings for a lake that needs Spark and Delta but no broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession

from financelake.config import Settings
from financelake.schemas import GOLD
from financelake.streams.sinks import DeltaSink
from financelake.training import CycleResult, gold_version, run_training_cycle


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
