"""Crash the running pipeline with SIGKILL, several times, and prove nothing is lost or doubled."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from support import (
    produce_raw,
    produce_ticks,
    read_bars,
    read_table,
    run_cli,
    start_cli,
)

from financelake.children import wait_until
from financelake.config import Settings
from financelake.transforms.gold import aggregate_bars


def _version(settings: Settings, table: str) -> int:
    try:
        return DeltaTable(settings.table_path(table)).version()
    except Exception:  # not created yet
        return -1


def test_sigkill_at_different_points_loses_and_duplicates_nothing(
    spark: SparkSession, settings: Settings, tmp_path: Path
) -> None:
    ticks = produce_ticks(settings, 6000, tick_interval_s=2.0)
    produce_raw(settings, [b"garbage"])
    # A producer retry: the same tick again, keyed like the original, so it follows it.
    produce_raw(settings, [ticks[-1].to_json()], key=ticks[-1].symbol.encode())
    log = tmp_path / "run.log"
    run = [
        "run",
        "--no-train",
        "--max-offsets-per-trigger",
        "700",
        "--trigger-interval",
        "1 second",
    ]

    # Kill 1: during ingestion, as soon as Bronze has its first batch.
    # Kill 2: after Silver has moved on by two more commits.
    # Kill 3: after Gold has moved on by one more commit.
    for table, more in (("bronze", 1), ("silver", 2), ("gold", 1)):
        target = _version(settings, table) + more
        process = start_cli(run, settings, log)
        wait_until(
            lambda t=table, v=target: _version(settings, t) >= v,
            600,  # a busy 2-core machine can take minutes to start Spark
            f"{table} at version {target}",
            children=[process],
            log_path=log,
            poll_s=0.2,  # often: each kill should land right after its commit
        )
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    drained = run_cli(["run", "--available-now"], settings, timeout=600)
    assert drained.returncode == 0, drained.stderr[-3000:]

    bronze = read_table(settings, "bronze")
    assert len(bronze) == 6002
    assert bronze.groupby(["partition", "offset"]).size().max() == 1

    silver = read_table(settings, "silver")
    assert len(silver) == 6000
    assert set(zip(silver.symbol, silver.price, strict=True)) == {
        (t.symbol, t.price) for t in ticks
    }
    assert silver.groupby(["symbol", "event_time"]).size().max() == 1

    quarantine = read_table(settings, "quarantine")
    assert sorted(r.split(":")[0] for r in quarantine.reason) == ["duplicate", "not JSON"]

    recomputed = (
        spark.read.format("delta")
        .load(settings.table_path("silver"))
        .transform(aggregate_bars(settings.bar_interval))
        .toPandas()
    )
    gold = read_bars(settings)
    key = ["symbol", "window_start"]
    columns = [c for c in recomputed.columns if c not in ("date",)]
    want = recomputed.sort_values(key).reset_index(drop=True)[columns]
    got = gold.assign(
        window_start=pd.to_datetime(gold.window_start).dt.tz_localize(None),
        window_end=pd.to_datetime(gold.window_end).dt.tz_localize(None),
        last_tick_at=pd.to_datetime(gold.last_tick_at).dt.tz_localize(None),
    )
    got = got.sort_values(key).reset_index(drop=True)[columns]
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)
    # Gold holds exactly the bars that their own symbol's clock closed.
    clocks = want.groupby("symbol").last_tick_at.transform("max")
    closed = want[want.window_end + pd.Timedelta(seconds=settings.watermark_seconds) <= clocks]
    in_gold = read_table(settings, "gold")
    assert sorted(zip(closed.symbol, closed.window_start, strict=True)) == sorted(
        zip(in_gold.symbol, pd.to_datetime(in_gold.window_start).dt.tz_localize(None), strict=True)
    )
