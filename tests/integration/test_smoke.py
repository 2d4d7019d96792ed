"""The foundation end to end: real broker, Spark's Kafka source, Delta, read back with delta-rs."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from support import produce_ticks, read_table

from financelake.config import Settings
from financelake.kafka.client import spark_kafka_options
from financelake.schemas import TICK_JSON


def test_one_thousand_ticks_land_in_delta_exactly(spark: SparkSession, settings: Settings) -> None:
    ticks = produce_ticks(settings, 1000)
    (
        spark.read.format("kafka")
        .options(**spark_kafka_options(settings))
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.from_json(F.col("value").cast("string"), TICK_JSON).alias("t"))
        .select("t.*")
        .write.format("delta")
        .save(settings.table_path("bronze"))
    )
    landed = read_table(settings, "bronze")
    expected = {(t.symbol, t.timestamp, t.price, t.volume) for t in ticks}
    got = set(
        zip(landed.symbol, landed.timestamp, landed.price, landed.volume.astype(int), strict=True)
    )
    assert len(landed) == 1000
    assert got == expected
