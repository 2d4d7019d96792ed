"""The time split: one global cutoff, every test row at or after it, every training row before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from financelake.ml.split import Fold, before, between, plan_time_split, plan_walk_forward

T0 = datetime(2026, 1, 7, 15, 0, tzinfo=UTC)
ROWS = "symbol string, window_start timestamp, label int"


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_no_test_row_is_earlier_than_any_training_row(spark: SparkSession) -> None:
    # A trades minutes 0..5, B only 3..9: a per-symbol split would test A at minute 4 and train
    # B at minute 7. One global cutoff on the distinct times (10 -> the last 2) prevents that.
    rows = [("A", m, m % 2) for m in range(6)] + [("B", m, (m + 1) % 2) for m in range(3, 10)]
    rows.append(("B", 10, None))  # B's latest bar: no label, in neither part
    frame = spark.createDataFrame([(s, minute(m), y) for s, m, y in rows], ROWS)
    known = [(s, m, y) for s, m, y in rows if y is not None]

    split = plan_time_split([minute(m) for _, m, _ in known], [y for *_, y in known], 0.2)

    assert split.cutoff == minute(8)
    assert (split.train_rows, split.test_rows) == (11, 2)
    assert (split.train_start, split.train_end) == (minute(0), minute(7))
    assert (split.test_start, split.test_end) == (minute(8), minute(9))
    assert split.test_positives == 1 and split.test_positive_rate == 0.5
    train = frame.transform(before(split.cutoff))
    test = frame.transform(between(split.cutoff))
    expected_test = spark.createDataFrame([("B", minute(8), 1), ("B", minute(9), 0)], ROWS)
    assert_df_equality(test, expected_test, ignore_row_order=True, ignore_nullable=True)
    expected_train = frame.where("label IS NOT NULL AND window_start < '2026-01-07 15:08:00Z'")
    assert_df_equality(train, expected_train, ignore_row_order=True)
    latest_train = train.agg({"window_start": "max"}).first()[0]
    earliest_test = test.agg({"window_start": "min"}).first()[0]
    assert latest_train < earliest_test


def test_both_parts_keep_at_least_one_bar_time() -> None:
    times = [minute(m) for m in range(3)]
    assert plan_time_split(times, [0, 1, 0], 0.01).test_rows == 1
    assert plan_time_split(times, [0, 1, 0], 0.99).train_rows == 1
    with pytest.raises(ValueError, match="at least 2"):
        plan_time_split([minute(0), minute(0)], [0, 1], 0.2)


def test_a_part_with_one_class_is_a_problem() -> None:
    times = [minute(m) for m in range(5)]
    assert plan_time_split(times, [0, 1, 0, 1, 0], 0.4).problem() is None
    assert "test part" in (plan_time_split(times, [0, 1, 0, 0, 0], 0.4).problem() or "")
    assert "training part" in (plan_time_split(times, [1, 1, 1, 0, 1], 0.4).problem() or "")


def test_walk_forward_folds_expand_in_time() -> None:
    times = [minute(m) for m in range(9)]
    assert plan_walk_forward(times, 0) == []
    assert plan_walk_forward(times, 2) == [Fold(minute(3), minute(6)), Fold(minute(6), None)]
    with pytest.raises(ValueError, match="cannot make"):
        plan_walk_forward(times[:2], 2)


def test_between_bounds_a_fold(spark: SparkSession) -> None:
    frame = spark.createDataFrame([("A", minute(m), m % 2) for m in range(6)], ROWS)
    fold = frame.transform(between(minute(2), minute(4)))
    expected = spark.createDataFrame([("A", minute(2), 0), ("A", minute(3), 1)], ROWS)
    assert_df_equality(fold, expected, ignore_row_order=True)
