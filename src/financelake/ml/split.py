"""Time-ordered train/test splits: one global `window_start` cutoff, never a random split.

A random split of a time series lets the model train on bars that come after the bars it is
tested on (and on their neighbours, which share most of their features); the AUC it reports is
then a measure of memory, not of prediction. Here every test row has `window_start` >= the cutoff
and every training row < the cutoff, for all symbols at once, so no test row is earlier than any
training row.

The cutoff is chosen on the distinct bar times of the labelled rows: the latest `test_fraction` of
them (at least one) are the test part. Walk-forward folds follow scikit-learn's TimeSeriesSplit:
the distinct times are cut into `folds + 1` contiguous blocks; fold i trains on blocks 0..i and
tests on block i + 1.

The plans are computed from the labelled rows' (window_start, label) pairs, which the training
cycle already holds in memory for the trader; the row filters are DataFrame transforms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from financelake.ml.features import LABEL


@dataclass(frozen=True)
class TimeSplit:
    """Where the split falls and what each side holds (row counts, bar times, class balance)."""

    cutoff: datetime
    """First test bar time: train is window_start < cutoff, test is window_start >= cutoff."""
    train_rows: int
    test_rows: int
    train_positives: int
    test_positives: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime

    @property
    def test_positive_rate(self) -> float:
        """Share of label 1 in the test part (the class balance an AUC should be read against)."""
        return self.test_positives / self.test_rows

    def problem(self) -> str | None:
        """Why a classifier cannot be fitted or judged on this split, or None when it can."""
        for part, rows, positives in (
            ("training", self.train_rows, self.train_positives),
            ("test", self.test_rows, self.test_positives),
        ):
            if positives in (0, rows):
                return (
                    f"the {part} part ({rows} bars) holds only label {int(positives > 0)}; "
                    "need both classes"
                )
        return None


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train on window_start < test_start, test on [test_start, stop)."""

    test_start: datetime
    test_stop: datetime | None
    """Exclusive end of the test block; None for the last fold (it runs to the latest bar)."""


def _distinct_times(window_start: Sequence[Any] | npt.NDArray[Any] | pd.Series) -> npt.NDArray[Any]:
    return np.unique(np.asarray(window_start))


def _timestamp(value: Any) -> datetime:
    """An aware UTC datetime; naive values are UTC (Spark's session time zone, see spark.py)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    result: datetime = stamp.to_pydatetime()
    return result


def plan_time_split(
    window_start: Sequence[Any] | npt.NDArray[Any] | pd.Series,
    labels: Sequence[int] | npt.NDArray[Any] | pd.Series,
    test_fraction: float,
) -> TimeSplit:
    """The train/test split of labelled rows given their bar times and labels (one entry per row).

    Raises ValueError when there are fewer than two distinct bar times (nothing to split).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    starts = np.asarray(window_start)
    label = np.asarray(labels, dtype=np.int64)
    if starts.shape != label.shape:
        raise ValueError(f"{len(starts)} bar times but {len(label)} labels")
    times = _distinct_times(starts)
    if len(times) < 2:
        raise ValueError(f"{len(times)} distinct bar time(s); a time split needs at least 2")
    n_test = min(max(1, round(len(times) * test_fraction)), len(times) - 1)
    cutoff = times[len(times) - n_test]
    test = starts >= cutoff
    return TimeSplit(
        cutoff=_timestamp(cutoff),
        train_rows=int((~test).sum()),
        test_rows=int(test.sum()),
        train_positives=int(label[~test].sum()),
        test_positives=int(label[test].sum()),
        train_start=_timestamp(times[0]),
        train_end=_timestamp(times[len(times) - n_test - 1]),
        test_start=_timestamp(cutoff),
        test_end=_timestamp(times[-1]),
    )


def plan_walk_forward(
    window_start: Sequence[Any] | npt.NDArray[Any] | pd.Series, folds: int
) -> list[Fold]:
    """Walk-forward folds over the distinct bar times (see the module docstring); [] for 0 folds.

    Raises ValueError when there are fewer distinct times than blocks (folds + 1).
    """
    if folds < 0:
        raise ValueError(f"folds must be >= 0, got {folds}")
    if folds == 0:
        return []
    times = _distinct_times(window_start)
    if len(times) < folds + 1:
        raise ValueError(f"{len(times)} distinct bar times cannot make {folds} walk-forward folds")
    blocks = np.array_split(times, folds + 1)
    return [
        Fold(
            test_start=_timestamp(blocks[i][0]),
            test_stop=_timestamp(blocks[i + 1][0]) if i < folds else None,
        )
        for i in range(1, folds + 1)
    ]


def before(cutoff: datetime) -> Callable[[DataFrame], DataFrame]:
    """Labelled rows with window_start < cutoff: the training part."""

    def _before(rows: DataFrame) -> DataFrame:
        return rows.where(F.col(LABEL).isNotNull() & (F.col("window_start") < F.lit(cutoff)))

    return _before


def between(start: datetime, stop: datetime | None = None) -> Callable[[DataFrame], DataFrame]:
    """Labelled rows with start <= window_start (< stop when given): a test part."""

    def _between(rows: DataFrame) -> DataFrame:
        condition = F.col(LABEL).isNotNull() & (F.col("window_start") >= F.lit(start))
        if stop is not None:
            condition = condition & (F.col("window_start") < F.lit(stop))
        return rows.where(condition)

    return _between
