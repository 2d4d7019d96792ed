"""The one SparkSession builder loads the scheduler pools that give ingest its priority."""

from __future__ import annotations

from pyspark.sql import SparkSession

from financelake.spark import GOLD_POOL, INGEST_POOL, TRAINING_POOL


def test_the_ingest_pool_outweighs_gold_and_training(spark: SparkSession) -> None:
    scheduler = spark.sparkContext._jsc.sc()  # type: ignore[union-attr]
    pools = {
        name: scheduler.getPoolForName(name) for name in (INGEST_POOL, GOLD_POOL, TRAINING_POOL)
    }
    assert all(pool.isDefined() for pool in pools.values()), "scheduler-pools.xml was not loaded"
    weights = {name: pool.get().weight() for name, pool in pools.items()}
    assert weights[INGEST_POOL] > weights[GOLD_POOL] >= weights[TRAINING_POOL]
    assert pools[INGEST_POOL].get().minShare() >= 1


def test_spark_metrics_are_configured_and_a_session_without_its_ui_still_starts(
    spark: SparkSession,
) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.ui.prometheus.enabled") == "true"
    assert conf.get("spark.sql.streaming.metricsEnabled") == "true"
    assert conf.get("spark.metrics.namespace") == "financelake-tests"  # the app name
    assert spark.sparkContext.uiWebUrl is None  # the tests' session keeps the UI off
