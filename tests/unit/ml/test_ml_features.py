"""Features and label: only past bars in features, only the same symbol's next bar in the label,
only closed bars anywhere, and never a null or NaN in the model's input vector."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from financelake.ml.features import (
    FEATURE_NAMES,
    FEATURES,
    bar_features,
    labelled,
    next_bar_label,
    training_rows,
    unlabelled,
)
from financelake.ml.train import classifier_pipeline

T0 = datetime(2026, 1, 7, 15, 0)
BARS = (
    "symbol string, window_start timestamp, window_end timestamp, open double, high double, "
    "low double, close double, avg_price double, price_volatility double, total_volume long"
)
LABELS = "symbol string, window_start timestamp, label int"


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def bars(spark: SparkSession, rows: list[tuple[str, int, float]]) -> DataFrame:
    """(symbol, minute, close) -> 1-minute Gold bars whose other prices equal the close."""
    full = [
        (sym, minute(m), minute(m + 1), close, close, close, close, close, 0.0, 10)
        for sym, m, close in rows
    ]
    return spark.createDataFrame(full, BARS)


def test_label_is_the_same_symbols_next_closed_bar(spark: SparkSession) -> None:
    # A and B interleave in time; B has no bar at minute 1 (a gap): its next bar is minute 2.
    # A tie (A at minute 2 -> 3) is not "up".
    rows = [("A", 0, 10.0), ("B", 0, 100.0), ("A", 1, 11.0), ("B", 2, 99.0), ("A", 2, 10.5)]
    rows += [("B", 3, 101.0), ("A", 3, 10.5)]
    result = bars(spark, rows).transform(next_bar_label()).select("symbol", "window_start", "label")
    expected = spark.createDataFrame(
        [
            ("A", minute(0), 1),
            ("A", minute(1), 0),
            ("A", minute(2), 0),
            ("A", minute(3), None),
            ("B", minute(0), 0),
            ("B", minute(2), 1),
            ("B", minute(3), None),
        ],
        LABELS,
    )
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_the_latest_bar_of_each_symbol_is_unlabelled_and_not_trained_on(
    spark: SparkSession,
) -> None:
    rows = bars(spark, [("A", 0, 1.0), ("A", 1, 2.0), ("B", 0, 5.0), ("B", 4, 4.0)])
    with_label = rows.transform(next_bar_label())
    train = with_label.transform(labelled()).select("symbol", "window_start", "label")
    forward = with_label.transform(unlabelled()).select("symbol", "window_start", "label")
    assert_df_equality(
        train,
        spark.createDataFrame([("A", minute(0), 1), ("B", minute(0), 0)], LABELS),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    assert_df_equality(
        forward,
        spark.createDataFrame([("A", minute(1), None), ("B", minute(4), None)], LABELS),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_features_by_hand_single_tick_and_first_bar(spark: SparkSession) -> None:
    # Bar 0: a single tick (volatility 0, range 0) and no history; bar 2: zero volume.
    gold = spark.createDataFrame(
        [
            ("A", minute(0), minute(1), 10.0, 10.0, 10.0, 10.0, 10.0, 0.0, 5),
            ("A", minute(1), minute(2), 10.0, 12.0, 9.0, 11.0, 10.0, 1.0, 20),
            ("A", minute(2), minute(3), 11.0, 11.0, 11.0, 11.0, 11.0, 0.0, 0),
        ],
        BARS,
    )
    result = gold.transform(bar_features(trailing_bars=2, momentum_bars=2)).select(
        "window_start", *FEATURE_NAMES
    )
    log6, log21 = math.log(6), math.log(21)
    expected = spark.createDataFrame(
        [
            (minute(0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            (minute(1), 0.1, 0.1, 0.0, 0.1, 0.1, 0.3, log21 - log6),
            (minute(2), 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0 - (log6 + log21) / 2),
        ],
        "window_start timestamp, " + ", ".join(f"{name} double" for name in FEATURE_NAMES),
    )
    assert_approx_df_equality(result, expected, 1e-12, ignore_nullable=True)


def test_assembled_vectors_have_no_null_or_nan(spark: SparkSession) -> None:
    # Degenerate bars: a zero average price (division by zero), a symbol with one bar only.
    gold = spark.createDataFrame(
        [
            ("A", minute(0), minute(1), 10.0, 10.0, 10.0, 10.0, 0.0, 0.0, 0),
            ("A", minute(1), minute(2), 0.0, 12.0, 0.0, 11.0, 10.0, 1.0, 20),
            ("B", minute(0), minute(1), 5.0, 5.0, 5.0, 5.0, 5.0, 0.0, 1),
        ],
        BARS,
    )
    assembler = classifier_pipeline(max_iter=1, reg_param=0.0).getStages()[0]
    vectors = assembler.transform(gold.transform(bar_features())).select("raw_features").collect()
    values = np.array([row[0].toArray() for row in vectors])
    assert values.shape == (3, len(FEATURES))
    assert np.isfinite(values).all()


def test_features_use_no_later_bar(spark: SparkSession) -> None:
    rng = np.random.default_rng(3)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 40)))

    def features(series: np.ndarray) -> list[tuple[object, ...]]:
        gold = spark.createDataFrame(
            [
                ("A", minute(i), minute(i + 1), c, c * 1.01, c * 0.99, c, c, 0.1, 10 + i)
                for i, c in enumerate(series.tolist())
            ],
            BARS,
        )
        out = gold.transform(bar_features()).where(f"window_start <= '{minute(25)}'")
        return [tuple(row) for row in out.orderBy("window_start").collect()]

    changed = closes.copy()
    changed[26:] *= 3.0  # rewrite the future
    assert features(closes) == features(changed)


def test_training_rows_use_closed_bars_only(spark: SparkSession) -> None:
    # Minute 3 of A is still open at the watermark: it is no row, and nobody's next bar.
    gold = bars(spark, [("A", 0, 10.0), ("A", 1, 9.0), ("A", 2, 9.5), ("A", 3, 12.0)])
    gold = gold.union(bars(spark, [("B", 1, 20.0), ("B", 2, 21.0)]))
    watermark = minute(3)  # window_end <= minute 3 means bars starting at minute 0..2
    result = gold.transform(training_rows(watermark)).select("symbol", "window_start", "label")
    expected = spark.createDataFrame(
        [
            ("A", minute(0), 0),
            ("A", minute(1), 1),
            ("A", minute(2), None),
            ("B", minute(1), 1),
            ("B", minute(2), None),
        ],
        LABELS,
    )
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)
    assert gold.transform(training_rows(None)).count() == 0


def test_training_rows_come_in_time_order_in_one_partition(spark: SparkSession) -> None:
    gold = bars(spark, [("B", 1, 2.0), ("A", 1, 1.0), ("B", 0, 2.0), ("A", 0, 1.0)])
    rows = gold.repartition(3).transform(training_rows(minute(5)))
    assert rows.rdd.getNumPartitions() == 1
    order = [(row.window_start, row.symbol) for row in rows.collect()]
    assert order == sorted(order)


def test_every_feature_is_documented() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURES) >= 4
    assert all(description.strip() for _, description in FEATURES)
