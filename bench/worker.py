"""Jobs the bench runs in a child process (a JVM of their own, like the CLI's), settings from
FINANCELAKE_* variables, figures as one JSON object in the `--out` file (never log text):
`floor` (B3), `train a,b` (T: one cycle on a synthetic Gold table of a bars, then of b bars,
from `financelake.market.gold_bars`) and `produce OPTIONS` (B2 and the paced producers:
`financelake produce OPTIONS`'s own code)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

from financelake.config import Settings
from financelake.market.gold_bars import synthetic_gold_bars
from financelake.market.simulator import DEFAULT_SYMBOLS
from financelake.spark import build_spark

FLOOR_QUERY = "floor"


def spark_floor() -> dict[str, Any]:
    """B3: the ingest stream's own source and session -> from_json -> noop, availableNow; its
    progress goes to the lake's progress files."""
    from pyspark.sql import functions as F

    from financelake.lake.progress import progress_dir, record_progress
    from financelake.schemas import TICK_JSON
    from financelake.streams.ingest import kafka_source

    settings = Settings()
    spark = build_spark(settings, app_name="financelake-bench-floor")
    try:
        ticks = kafka_source(spark, settings).select(
            F.from_json(F.col("value").cast("string"), TICK_JSON).alias("tick")
        )
        query = (
            ticks.select("tick.*")
            .writeStream.queryName(FLOOR_QUERY)
            .format("noop")
            .trigger(availableNow=True)
            .option("checkpointLocation", settings.checkpoint_path(FLOOR_QUERY))
            .start()
        )
        query.awaitTermination()
        # Recorded after the end, not by a listener: listener events may still be in flight.
        folder = progress_dir(settings.lake_root)
        assert folder is not None, "the bench's lakes are local"
        folder.mkdir(parents=True, exist_ok=True)
        for progress in query.recentProgress:
            record_progress(folder, json.loads(progress.json))
        return {"batches": len(query.recentProgress)}
    finally:
        spark.stop()


def training_cycles(sizes: list[int]) -> dict[str, Any]:
    """T: per size, one timed cycle on a fresh lake's synthetic Gold table, in one session."""
    from financelake.streams.sinks import DeltaSink
    from financelake.training import run_training_cycle

    base = Settings()
    spark = build_spark(base, app_name="financelake-bench-T")
    cycles = []
    try:
        for size in sizes:
            settings = base.model_copy(update={"lake_root": f"{base.lake_root}/bars-{size}"})
            gold = DeltaSink.of(spark, settings, "gold")
            gold.setup()
            symbols = len(DEFAULT_SYMBOLS)
            bars = synthetic_gold_bars(symbols, max(1, size // symbols), seed=settings.seed)
            gold.append(spark.createDataFrame(bars, gold.schema), f"bench gold, {size} bars")
            started = time.perf_counter()
            result = run_training_cycle(spark, settings)
            cycles.append(
                {
                    "bars": result.closed_bars,
                    "s": time.perf_counter() - started,
                    "status": str(result.status),
                    "timings": result.timings,
                }
            )
    finally:
        spark.stop()
    return {"cycles": cycles}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("--out", type=Path, required=True, help="where to write the figures")
    parser.add_argument("job", choices=("floor", "train", "produce"))
    parser.add_argument(
        "options", nargs=argparse.REMAINDER, help="train: bar counts a,b; produce: its options"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.job == "floor":
        result = spark_floor()
    elif args.job == "train":
        result = training_cycles([int(s) for s in args.options[0].split(",")])
    else:
        from financelake.cli import parse_only, produce_report

        report = produce_report(*parse_only(["produce", *args.options]))
        result = {**dataclasses.asdict(report), "ticks_per_s": report.rate, "ok": report.ok}
    args.out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
