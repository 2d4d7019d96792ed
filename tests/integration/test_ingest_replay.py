"""A micro-batch cut short half-way through its writes is replayed without loss or duplicates.

Drives the real ingest handler on real Delta tables with Kafka-shaped batches (the Kafka
source is covered by the SIGKILL test); the crash is a table write that fails, so the point
where the batch stops is exact instead of left to timing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from support import read_table

from financelake.config import Settings
from financelake.streams.ingest import IngestBatch
from financelake.streams.sinks import DeltaSink, Lake

T0 = datetime(2026, 1, 7, 15, 0, 0)
KAFKA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"


@dataclass(frozen=True)
class CrashingSink(DeltaSink):
    """A table whose next append dies, like the process would under SIGKILL."""

    def append(self, df: DataFrame, note: str) -> None:
        raise RuntimeError(f"simulated crash before writing {self.path}")


def tick(symbol: str, seconds: float, price: float = 100.0) -> bytes:
    stamp = (T0 + timedelta(seconds=seconds)).isoformat()
    fields = {"symbol": symbol, "price": price, "volume": 10, "open": 99.0}
    return json.dumps({**fields, "high": 101.0, "low": 98.0, "timestamp": stamp}).encode()


def kafka_batch(spark: SparkSession, first_offset: int, values: list[bytes]) -> DataFrame:
    rows = [
        (None, value, "ticks", 0, first_offset + i, T0 + timedelta(seconds=i))
        for i, value in enumerate(values)
    ]
    return spark.createDataFrame(rows, KAFKA)


@pytest.mark.parametrize("crash_at", ["silver", "bronze"])
def test_a_batch_cut_short_is_replayed_exactly_once(
    spark: SparkSession, tmp_path: Path, crash_at: str
) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), shuffle_partitions=2)
    lake = Lake.at(spark, settings)
    lake.setup()
    first = [tick("A", s) for s in range(0, 20, 2)]
    # The second batch starts 30 s of event time behind its own last tick: had the replay
    # counted the batch's own Silver rows, its first ticks would turn "late" or "duplicate".
    second = [tick("A", 21 + s) for s in range(0, 60, 3)] + [b"not json"]
    IngestBatch(settings, lake)(kafka_batch(spark, 0, first), 0)

    crashing = replace(lake, **{crash_at: CrashingSink(**vars(getattr(lake, crash_at)))})
    with pytest.raises(RuntimeError, match="simulated crash"):
        IngestBatch(settings, crashing)(kafka_batch(spark, len(first), second), 1)
    written_before_crash = len(read_table(settings, "silver")) - len(first)
    assert written_before_crash == (len(second) - 1 if crash_at == "bronze" else 0)

    # The restart replays batch 1 (same offsets), then goes on with batch 2: a producer retry
    # of batch 1's last tick, and one new tick.
    restarted = IngestBatch(settings, lake)
    restarted(kafka_batch(spark, len(first), second), 1)
    third = [tick("A", 21 + 57), tick("A", 200)]
    restarted(kafka_batch(spark, len(first) + len(second), third), 2)

    offsets = len(first) + len(second) + len(third)
    bronze = read_table(settings, "bronze")
    assert sorted(bronze["offset"]) == list(range(offsets))
    silver = read_table(settings, "silver")
    assert len(silver) == len(first) + len(second) - 1 + 1
    assert not silver.duplicated(["symbol", "event_time"]).any()
    quarantine = read_table(settings, "quarantine")
    reasons = dict(zip(quarantine["offset"], quarantine["reason"], strict=True))
    assert len(quarantine) == 2
    assert reasons[len(first) + len(second) - 1].startswith("not JSON")
    assert reasons[len(first) + len(second)].startswith("duplicate")
    # Every Kafka record is in exactly one of Silver and Quarantine.
    assert set(silver["offset"]) | set(quarantine["offset"]) == set(range(offsets))
    assert not set(silver["offset"]) & set(quarantine["offset"])
