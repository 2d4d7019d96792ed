"""The run whose classes the driver's class-data archive records (see `class_archive`): the
pipeline's own code once on a scratch lake, in a JVM that writes the archive as it exits.

A module of its own so that `class_archive`, which `spark.py` asks for the archive, imports
nothing of the pipeline: this run needs the Spark builder and the streams, which need it.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from pyspark import SparkContext

from financelake.class_archive import RECORD_TIMEOUT_S
from financelake.config import Settings
from financelake.market.simulator import simulate_ticks
from financelake.spark import build_spark
from financelake.streams.gold import start_gold
from financelake.streams.ingest import IngestBatch
from financelake.streams.sinks import Lake


def main(target: Path) -> None:
    """Run the pipeline's code once on a scratch lake in a JVM that archives its classes into
    `target` when it exits; return after it has exited."""
    with tempfile.TemporaryDirectory(prefix="financelake-classes-") as lake_root:
        settings = Settings(lake_root=lake_root, topic="class-archive", spark_ui=False)
        spark = build_spark(settings, "financelake-class-archive", archive_classes_to=target)
        gateway = SparkContext._gateway
        assert gateway is not None and gateway.proc is not None, "a local driver JVM"
        lake = Lake.at(spark, settings)
        lake.setup()
        ticks = simulate_ticks(count=2_000, tick_interval_s=5.0, start=datetime(2026, 1, 5))
        rows = [
            (tick.symbol.encode(), tick.to_json(), settings.topic, 0, offset, tick.event_time, 0)
            for offset, tick in enumerate(ticks)
        ]
        kafka = spark.createDataFrame(
            rows,
            "key binary, value binary, topic string, partition int, offset long, "
            "timestamp timestamp, timestampType int",
        )
        IngestBatch(settings, lake)(kafka, 0)
        start_gold(spark, settings, available_now=True).awaitTermination()
        lake.gold.read().count()
        spark.stop()
        # The JVM writes the archive as it exits, which it does when its stdin closes.
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=RECORD_TIMEOUT_S)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(Path(sys.argv[1]))
