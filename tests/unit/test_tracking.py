"""MLflow tracking without Spark: where runs go, what a run holds, and that tracking never raises.

These use the real MLflow file store under tmp_path; the model itself is logged in
tests/integration/test_tracking.py, which needs Spark.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark.errors import PySparkValueError

from financelake.config import Settings
from financelake.ml.auc import AucEstimate
from financelake.ml.split import TimeSplit
from financelake.tracking import (
    TRADER_TABLE,
    CycleRun,
    gold_dataset,
    run_metrics,
    run_params,
    tracked_cycle,
    tracking_enabled,
    tracking_uri,
    trader_table,
)
from financelake.training_nodes import OK, SKIPPED, Classified, Traded
from financelake.training_results import failure_reason

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _file_store_allowed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # CycleRun sets MLFLOW_ALLOW_FILE_STORE for its default store; undo it after each test.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    yield
    if mlflow.active_run() is not None:  # a test that failed half-way must not leak its run
        mlflow.end_run()


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(lake_root=str(tmp_path / "lake"), **overrides)  # type: ignore[arg-type]


def _classified(status: str = OK) -> Classified:
    split = TimeSplit(
        cutoff=datetime(2026, 1, 7, 12, 0, tzinfo=UTC),
        train_rows=800,
        test_rows=200,
        train_positives=400,
        test_positives=90,
        train_start=T0,
        train_end=datetime(2026, 1, 7, 11, 59, tzinfo=UTC),
        test_start=datetime(2026, 1, 7, 12, 0, tzinfo=UTC),
        test_end=datetime(2026, 1, 7, 13, 0, tzinfo=UTC),
    )
    auc = AucEstimate(auc=0.61, ci_low=0.53, ci_high=0.69, p_value=0.008)
    return Classified(status, None, split, auc=auc, fold_aucs=[0.58, math.nan, 0.64])


def _traded() -> list[Traded]:
    metrics = pd.DataFrame(
        {
            "symbol": ["AAPL", "MSFT", "^GSPC"],
            "status": [OK, OK, SKIPPED],
            "reason": [None, None, "12 bar(s), need at least 100"],
            "agent_return": [0.012, -0.004, math.nan],
            "excess_ci_low": [0.001, -0.03, None],
            "excess_ci_high": [0.03, 0.01, None],
            "trades": pd.array([4, 0, pd.NA], dtype="Int64"),
        }
    )
    return [Traded("q_learning", metrics, pd.DataFrame())]


def test_runs_go_to_a_file_store_under_the_lake_unless_told_otherwise(tmp_path: Path) -> None:
    local = _settings(tmp_path)
    assert tracking_uri(local) == (tmp_path / "lake" / "_mlflow").as_uri()
    elsewhere = _settings(tmp_path, mlflow_tracking_uri="sqlite:///runs.db")
    assert tracking_uri(elsewhere) == "sqlite:///runs.db"
    # MLflow's file store is local only: a remote lake needs the setting.
    assert tracking_uri(Settings(lake_root="s3a://bucket/lake")) is None


def test_tracking_is_on_with_the_extra_and_off_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tracking_enabled(_settings(tmp_path))  # the dev extra installs mlflow
    monkeypatch.setenv("FINANCELAKE_MLFLOW", "off")
    off = Settings(lake_root=str(tmp_path / "lake"))
    assert off.mlflow is False and not tracking_enabled(off)
    run = CycleRun(off, "r1")
    run.log_gold(off.table_path("gold"), 3)
    run.log_cycle(_classified(), _traded(), closed_bars=1020, tags={})
    run.end()
    assert run.id is None
    assert not (tmp_path / "lake" / "_mlflow").exists()


def test_metrics_hold_the_auc_interval_and_the_traders_figures() -> None:
    metrics = run_metrics(_classified(), _traded(), closed_bars=1020)

    assert {key: metrics[key] for key in ("auc", "auc_ci_low", "auc_ci_high", "auc_p_value")} == {
        "auc": 0.61,
        "auc_ci_low": 0.53,
        "auc_ci_high": 0.69,
        "auc_p_value": 0.008,
    }
    assert metrics["test_positive_rate"] == 0.45 and metrics["closed_bars"] == 1020
    assert metrics["fold_auc_mean"] == pytest.approx(0.61)  # the NaN fold is left out
    # The trader per strategy, over its judged symbols (a skipped symbol has no figures).
    assert {key: value for key, value in metrics.items() if key.startswith("q_learning.")} == {
        "q_learning.symbols_judged": 2,
        "q_learning.symbols_excess_above_0": 1,
        "q_learning.symbols_excess_below_0": 0,
        "q_learning.mean_agent_return": pytest.approx(0.004),
        "q_learning.trades": 4,
    }  # fees_paid is not in these rows: no total rather than a total of 0


def test_the_trader_table_has_every_symbol_with_plain_values() -> None:
    table = trader_table(_traded())

    assert table["symbol"] == ["AAPL", "MSFT", "^GSPC"]
    assert table["strategy"] == ["q_learning"] * 3
    assert table["agent_return"] == [0.012, -0.004, None]
    assert table["trades"] == [4, 0, None] and type(table["trades"][0]) is int
    assert table["sharpe"] == [None, None, None]  # a figure the frame lacks is null, not absent


def test_params_hold_hyper_parameters_thresholds_and_the_split(tmp_path: Path) -> None:
    params = run_params(_settings(tmp_path, lr_reg_param=0.05), _classified())

    assert params["lr_reg_param"] == "0.05"
    assert params["signal_threshold"] == "0.55" and params["min_test_rows"] == "200"
    assert params["split_cutoff"] == "2026-01-07T12:00:00+00:00"
    assert params["features"].startswith("bar_return,")
    assert "split_cutoff" not in run_params(_settings(tmp_path), Classified(SKIPPED, "few bars"))


def test_the_dataset_input_is_gold_at_its_version_without_reading_it() -> None:
    dataset = gold_dataset("/lake/gold", 7)

    assert dataset.name == "gold"
    assert dataset.source.to_dict() == {"path": "/lake/gold", "delta_table_version": 7}
    assert dataset.digest == gold_dataset("/lake/gold", 7).digest
    assert dataset.digest != gold_dataset("/lake/gold", 8).digest


def test_a_cycle_without_a_model_is_one_finished_run_in_the_file_store(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with tracked_cycle(settings, "20260107T090000Z-abc") as run:
        run.log_gold(settings.table_path("gold"), 5)
        run.log_cycle(_classified(), _traded(), closed_bars=1020, tags={"gold_version": 5})
        run_id = run.id

    assert run_id is not None
    client = MlflowClient(tracking_uri=tracking_uri(settings))
    finished = client.get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert finished.info.run_name == "20260107T090000Z-abc"
    assert finished.data.metrics["auc_ci_low"] == 0.53
    assert finished.data.params["split_test_start"] == "2026-01-07T12:00:00+00:00"
    assert finished.data.tags["financelake.status"] == OK
    assert finished.data.tags["gold_version"] == "5"
    folds = client.get_metric_history(run_id, "fold_auc")
    assert [(m.step, m.value) for m in folds] == [(0, 0.58), (2, 0.64)]
    trader = client.download_artifacts(run_id, TRADER_TABLE, str(tmp_path))
    assert json.loads(Path(trader).read_text())["data"][0][:3] == ["q_learning", "AAPL", "ok"]
    (dataset_input,) = finished.inputs.dataset_inputs
    assert dataset_input.dataset.name == "gold"
    assert '"delta_table_version": 5' in dataset_input.dataset.source
    assert (tmp_path / "lake" / "_mlflow").is_dir()


def test_a_cycle_that_raises_ends_its_run_failed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(RuntimeError), tracked_cycle(settings, "r-fail") as run:
        run.log_failure("RuntimeError: boom")
        run_id = run.id
        raise RuntimeError("boom")

    failed = MlflowClient(tracking_uri=tracking_uri(settings)).get_run(str(run_id))
    assert failed.info.status == "FAILED"
    assert failed.data.tags["financelake.reason"] == "RuntimeError: boom"


def test_a_tracking_failure_never_reaches_the_cycle(tmp_path: Path) -> None:
    unusable = _settings(tmp_path, mlflow_tracking_uri="nosuchscheme://tracking")
    run = CycleRun(unusable, "r1")  # the store cannot be opened: a warning, no run
    assert run.id is None
    run.log_cycle(_classified(), _traded(), closed_bars=1, tags={})
    run.end()

    # The store vanishes under a started run: the logging that follows fails, the run is over.
    settings = _settings(tmp_path)
    broken = CycleRun(settings, "r2")
    assert broken.active
    store = Path(str(tracking_uri(settings)).removeprefix("file://"))
    for run_folder in store.glob(f"*/{broken.id}"):
        for child in sorted(run_folder.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        run_folder.rmdir()
    broken.log_cycle(_classified(), _traded(), closed_bars=1, tags={})
    assert not broken.active and mlflow.active_run() is None


def test_a_failure_reason_is_a_short_code_and_the_first_line() -> None:
    assert failure_reason(RuntimeError("disk full\nat line 3")) == "RuntimeError: disk full"
    spark_error = PySparkValueError(
        errorClass="CANNOT_BE_NONE", messageParameters={"arg_name": "x"}
    )
    assert failure_reason(spark_error).startswith("CANNOT_BE_NONE: ")
    assert failure_reason(KeyError()) == "KeyError: no message"
    assert len(failure_reason(ValueError("x" * 2000))) == 500
