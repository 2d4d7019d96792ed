"""Spark-side jobs the bench runs in a child process (a JVM of their own, like the CLI's).

`python -m bench.worker floor --checkpoint DIR`: B3, Kafka source -> from_json -> noop sink.
`python -m bench.worker train --root DIR --sizes 1000,10000`: T, synthetic Gold then one cycle.
`python -m bench.worker produce --count N --rate R [--tick-interval S] [--start ISO]`: B2 and
the paced producers, `financelake produce`'s own function, its `PublishReport` as figures.

Settings come from FINANCELAKE_* variables, as for the CLI. The figures are written as one JSON
object to the file named by `--out` (the bench never reads them from log text).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from financelake.catalog import table
from financelake.config import Settings
from financelake.market.simulator import DEFAULT_SYMBOLS
from financelake.spark import build_spark

log = logging.getLogger("bench.worker")


def spark_floor(checkpoint: str) -> dict[str, Any]:
    """B3: the same source options and session as the ingest stream, only parsing, no sink."""
    from pyspark.sql import functions as F

    from financelake.schemas import TICK_JSON
    from financelake.streams.ingest import kafka_source

    settings = Settings()
    started = time.perf_counter()
    spark = build_spark(settings, app_name="financelake-bench-floor")
    session_s = time.perf_counter() - started
    try:
        # The pipeline's own source, so the floor reads with exactly the same settings.
        ticks = kafka_source(spark, settings).select(
            F.from_json(F.col("value").cast("string"), TICK_JSON).alias("tick")
        )
        query_started = time.perf_counter()
        query = (
            ticks.select("tick.*")
            .writeStream.queryName("floor")
            .format("noop")
            .trigger(availableNow=True)
            .option("checkpointLocation", checkpoint)
            .start()
        )
        query.awaitTermination()
        query_s = time.perf_counter() - query_started
        progress = [_as_dict(p) for p in query.recentProgress]
        rows = sum(int(p.get("numInputRows") or 0) for p in progress)
        return {"session_s": session_s, "query_s": query_s, "rows": rows, "batches": len(progress)}
    finally:
        spark.stop()


def _as_dict(progress: Any) -> dict[str, Any]:
    if isinstance(progress, dict):
        return progress
    return dict(json.loads(progress.json))


def synthetic_bars(count: int, bar_seconds: int, seed: int = 7) -> pa.Table:
    """`count` closed Gold bars (four symbols, a random walk), ending two days before now."""
    rng = np.random.default_rng(seed)
    per_symbol = max(1, count // len(DEFAULT_SYMBOLS))
    end = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0) - timedelta(days=2)
    first = end - timedelta(seconds=bar_seconds * per_symbol)
    starts = np.datetime64(first, "us") + np.arange(per_symbol) * np.timedelta64(
        bar_seconds, "s"
    ).astype("timedelta64[us]")
    columns: dict[str, list[Any]] = {name: [] for name in table("gold").schema.fieldNames()}
    for i, symbol in enumerate(DEFAULT_SYMBOLS):
        close = 50.0 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 1e-3, per_symbol)))
        open_ = np.concatenate([[close[0]], close[:-1]])
        spread = np.abs(rng.normal(0, 5e-4, per_symbol)) * close
        high, low = np.maximum(open_, close) + spread, np.minimum(open_, close) - spread
        avg = (open_ + high + low + close) / 4
        ticks = rng.integers(10, 120, per_symbol)
        volume = ticks * rng.integers(5, 50, per_symbol)
        values = {
            "symbol": np.full(per_symbol, symbol, dtype=object),
            "window_start": starts,
            "window_end": starts + np.timedelta64(bar_seconds, "s"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "avg_price": avg,
            "price_volatility": spread / 2,
            "total_volume": volume,
            "vwap": avg,
            "tick_count": ticks,
            "avg_price_change": (close / open_ - 1) * 100,
            "last_tick_at": starts + np.timedelta64(bar_seconds - 1, "s"),
            "date": starts.astype("datetime64[D]"),
        }
        for name, column in values.items():
            columns[name].append(column)
    schema = pa.schema(
        [
            pa.field(f.name, _arrow_type(f.dataType.typeName()), nullable=False)
            for f in table("gold").schema.fields
        ]
    )
    return pa.table({name: np.concatenate(parts) for name, parts in columns.items()}, schema=schema)


def _arrow_type(spark_type: str) -> pa.DataType:
    return {
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "double": pa.float64(),
        "long": pa.int64(),
        "date": pa.date32(),
    }[spark_type]


def training_cycles(root: Path, sizes: list[int]) -> dict[str, Any]:
    """T: for each size, a fresh lake with a synthetic Gold table, then one timed cycle."""
    try:
        from financelake.training import run_training_cycle
    except ImportError as error:
        return {"skipped": f"financelake.training is not importable yet: {error}"}
    from financelake.streams.sinks import DeltaSink

    spark = build_spark(Settings(lake_root=str(root / "session")), app_name="financelake-bench-T")
    cycles = []
    try:
        for size in sizes:
            settings = Settings(lake_root=str(root / f"bars-{size}"))
            bars = synthetic_bars(size, settings.bar_seconds, seed=settings.seed)
            staging = root / f"bars-{size}.parquet"
            pq.write_table(bars, staging)
            gold = DeltaSink.of(spark, settings, "gold")
            gold.setup()
            spark.read.parquet(str(staging)).select(
                *table("gold").schema.fieldNames()
            ).write.format("delta").mode("append").save(gold.path)
            started = time.perf_counter()
            result = run_training_cycle(spark, settings)
            wall = time.perf_counter() - started
            cycles.append(
                {
                    "bars": bars.num_rows,
                    "seconds": wall,
                    "cycle_seconds": result.seconds,
                    "timings": result.timings,
                    "status": result.status,
                    "reason": result.reason,
                    "closed_bars": result.closed_bars,
                    "train_rows": result.train_rows,
                    "test_rows": result.test_rows,
                    "auc": result.auc,
                    "traded_symbols": sum(1 for t in result.trader if t.status == "ok"),
                    "summary": result.summary(),
                }
            )
            log.info("cycle at %d bars: %.1f s", bars.num_rows, wall)
    finally:
        spark.stop()
    return {"cycles": cycles}


def produce_ticks(
    count: int, rate: float, tick_interval_s: float, start: datetime | None
) -> dict[str, Any]:
    """B2 / paced load: `financelake produce`'s function; its report's fields and rate."""
    from financelake.market.publisher import produce

    report = produce(
        Settings(), count=count, rate=rate, tick_interval_s=tick_interval_s, start=start
    )
    return {**dataclasses.asdict(report), "ticks_per_s": report.rate, "ok": report.ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--out", type=Path, required=True, help="where to write the figures")
    jobs = parser.add_subparsers(dest="job", required=True)
    floor = jobs.add_parser("floor")
    floor.add_argument("--checkpoint", required=True)
    train = jobs.add_parser("train")
    train.add_argument("--root", type=Path, required=True)
    train.add_argument("--sizes", required=True, help="comma-separated bar counts")
    feed = jobs.add_parser("produce")
    feed.add_argument("--count", type=int, required=True)
    feed.add_argument("--rate", type=float, default=0.0)
    feed.add_argument("--tick-interval", type=float, default=1.0)
    feed.add_argument("--start", type=datetime.fromisoformat)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    if args.job == "floor":
        result = spark_floor(args.checkpoint)
    elif args.job == "produce":
        result = produce_ticks(args.count, args.rate, args.tick_interval, args.start)
    else:
        result = training_cycles(args.root, [int(s) for s in args.sizes.split(",")])
    args.out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
