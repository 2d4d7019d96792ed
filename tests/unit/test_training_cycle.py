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
        TraderSummary("A", "q_learning", "ok", None, 0.02, 0.015, 0.004, 0.03, 4),
        TraderSummary("B", "q_learning", "ok", None, -0.01, -0.002, -0.02, 0.01, 2),
        TraderSummary("C", "q_learning", "skipped", "only 3 bars, need at least 30"),
        TraderSummary("A", "classifier", "ok", None, -0.05, -0.04, -0.06, -0.01, 40),
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
        auc_ci_low=0.45,
        auc_ci_high=0.57,
        fold_aucs=(0.5, math.nan, 0.54),
        trader=trader,
        seconds=3.2,
    )
    line = result.summary()
    assert "\n" not in line
    assert "AUC 0.512 [0.450, 0.570] on 200 test bars (50% up)" in line
    assert "mean 0.520" in line  # the NaN fold (one class only) does not count
    assert "q_learning 2/3 symbols, excess vs exposure-matched above 0 on 1, below on 0" in line
    assert "classifier 1/1 symbols, excess vs exposure-matched above 0 on 0, below on 1" in line
    skipped = CycleResult("r2", "skipped", "12 labelled closed bars, need at least 30", 1, None, 14)
    assert "classifier skipped: 12 labelled closed bars" in skipped.summary()


def test_result_tables_have_the_documented_columns() -> None:
    assert GOLD_ML.fieldNames()[:5] == ["run_id", "trained_at", "status", "reason", "gold_version"]
    for column in ("test_positive_rate", "auc", "auc_ci_low", "auc_ci_high", "auc_p_value"):
        assert column in GOLD_ML.fieldNames()
    assert GOLD_PREDICTIONS.fieldNames() == [
        "run_id",
        "kind",
        "symbol",
        "window_start",
        "probability_up",
        "prediction",
        "label",
        "date",
    ]
    for column in (
        "strategy",
        "agent_return",
        "buy_hold_return",
        "hold_return",
        "random_return",
        "exposure",
        "exposure_matched_return",
        "excess_vs_exposure_matched",
        "excess_ci_low",
        "excess_ci_high",
        "trades",
        "never_traded",
        "sortino",
        "calmar",
        "max_drawdown_duration_s",
    ):
        assert column in GOLD_RL.fieldNames()
    assert "excess_return" not in GOLD_RL.fieldNames()
    assert "total_return" not in GOLD_RL.fieldNames()
    assert GOLD_RL_EQUITY.fieldNames() == [
        "run_id",
        "symbol",
        "window_start",
        "action",
        "shares",
        "cash",
        "equity",
    ]
