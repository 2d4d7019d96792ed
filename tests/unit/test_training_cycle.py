"""The training cycle's small parts: run ids, the one-line summary, the result tables' columns."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from financelake.config import Settings
from financelake.errors import LakeError
from financelake.schemas import GOLD_ML, GOLD_PREDICTIONS, GOLD_RL, GOLD_RL_EQUITY
from financelake.training import (
    CycleResult,
    TraderSummary,
    new_run_id,
    run_training_cycle,
)


def test_run_ids_sort_by_time_and_are_path_safe() -> None:
    early = new_run_id(datetime(2026, 1, 7, 9, 5, 3, tzinfo=UTC))
    late = new_run_id(datetime(2026, 1, 7, 10, 0, 0, tzinfo=UTC))
    assert re.fullmatch(r"20260107T090503Z-[0-9a-f]{8}", early)
    assert early < late


def test_bad_run_id_and_missing_gold_fail_clearly(spark: SparkSession, tmp_path: Path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"))
    with pytest.raises(ValueError, match="run_id"):
        run_training_cycle(spark, settings, run_id="../escape")
    with pytest.raises(LakeError, match="start the pipeline"):
        run_training_cycle(spark, settings)
    assert not (tmp_path / "lake").exists()


def test_summary_is_one_line_with_both_verdicts() -> None:
    trader = (
        TraderSummary("A", "ok", None, 0.02, 0.01, 10_200.0, 4),
        TraderSummary("B", "ok", None, -0.01, 0.0, 9_900.0, 2),
        TraderSummary("C", "skipped", "only 3 bars, need at least 30", None, None, None, None),
    )
    result = CycleResult(
        run_id="r1",
        status="ok",
        reason=None,
        gold_version=7,
        watermark=None,
        closed_bars=1000,
        train_rows=790,
        test_rows=200,
        test_positive_rate=0.5,
        auc=0.512,
        fold_aucs=(0.5, math.nan, 0.54),
        trader=trader,
        seconds=3.2,
    )
    line = result.summary()
    assert "\n" not in line
    assert "AUC 0.512 on 200 test bars (50% up)" in line
    assert "mean 0.520" in line  # the NaN fold (one class only) does not count
    assert "trader 2/3 symbols, mean return +0.50%" in line
    skipped = CycleResult("r2", "skipped", "12 labelled closed bars, need at least 30", 1, None, 14)
    assert "classifier skipped: 12 labelled closed bars" in skipped.summary()


def test_result_tables_have_the_documented_columns() -> None:
    assert GOLD_ML.fieldNames()[:5] == ["run_id", "trained_at", "status", "reason", "gold_version"]
    for column in ("test_positive_rate", "auc", "fold_aucs", "features", "coefficients"):
        assert column in GOLD_ML.fieldNames()
    assert GOLD_PREDICTIONS.fieldNames() == [
        "run_id",
        "kind",
        "symbol",
        "window_start",
        "probability_up",
        "prediction",
        "label",
    ]
    for column in ("initial_capital", "alpha", "episodes", "sharpe", "win_rate", "status"):
        assert column in GOLD_RL.fieldNames()
    assert GOLD_RL_EQUITY.fieldNames() == [
        "run_id",
        "symbol",
        "window_start",
        "action",
        "shares",
        "cash",
        "equity",
    ]
