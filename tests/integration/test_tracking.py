"""MLflow tracking of real training cycles: real Spark and Delta, the real MLflow file store under
the lake. One run per cycle with its parameters, metrics, Gold input and model; the champion
alias; tracking off; and a failing cycle recorded as failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import mlflow.spark
import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from gold_lakes import TrainedLake, lake_settings, trained_lake, write_gold
from mlflow import MlflowClient
from mlflow.entities import Run
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType
from support import read_table

from financelake.maintenance import run_maintenance
from financelake.market.gold_bars import synthetic_gold_bars
from financelake.ml import FEATURE_NAMES, training_rows
from financelake.schemas import GOLD_ML
from financelake.status.check import check_status
from financelake.status.report import status_report
from financelake.streams.sinks import DeltaSink
from financelake.tracking import CHAMPION, MODEL_ARTIFACT, TRADER_TABLE, tracking_uri
from financelake.training import run_training_cycle


@dataclass(frozen=True)
class TrackedLake(TrainedLake):
    """A trained lake, with its MLflow store read as a user would."""

    @property
    def client(self) -> MlflowClient:
        uri = tracking_uri(self.settings)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def load(self, uri: str) -> PipelineModel:
        """A model from this lake's store, as a user would load it."""
        mlflow.set_tracking_uri(tracking_uri(self.settings))
        mlflow.set_registry_uri(tracking_uri(self.settings))
        return mlflow.spark.load_model(uri)

    def runs(self) -> list[Run]:
        experiment = self.client.get_experiment_by_name(self.settings.mlflow_experiment)
        assert experiment is not None
        found = self.client.search_runs([experiment.experiment_id], order_by=["start_time ASC"])
        return [self.client.get_run(run.info.run_id) for run in found]  # with their outputs


@pytest.fixture(autouse=True)
def _no_leaked_run() -> Iterator[None]:
    yield
    assert mlflow.active_run() is None  # every cycle ends its run


@pytest.fixture(scope="module")
def tracked(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> TrackedLake:
    """A trending Gold (6 symbols x 240 bars) trained once with tracking on (the default)."""
    bars = synthetic_gold_bars(6, 240, seed=1, momentum=0.3)
    lake = trained_lake(spark, tmp_path_factory.mktemp("tracked"), bars, "tracked-1")
    return TrackedLake(lake.settings, lake.version, lake.result)


def test_a_cycle_is_one_run_with_params_metrics_gold_and_the_model(
    tracked: TrackedLake, tmp_path: Path
) -> None:
    result, settings = tracked.result, tracked.settings
    assert result.status == "ok" and result.auc is not None
    (run,) = tracked.runs()

    assert run.info.run_id == result.mlflow_run_id and run.info.run_name == "tracked-1"
    assert run.info.status == "FINISHED"
    metrics, params = run.data.metrics, run.data.params
    assert metrics["auc"] == result.auc
    assert metrics["auc_ci_low"] < result.auc < metrics["auc_ci_high"]
    assert metrics["auc_p_value"] == read_table(settings, "gold_ml").auc_p_value.item()
    assert metrics["test_rows"] == result.test_rows
    for strategy in ("q_learning", "classifier"):
        judged = [t for t in result.trader if t.strategy == strategy and t.status == "ok"]
        assert metrics[f"{strategy}.symbols_judged"] == len(judged) > 0
        returns = [t.agent_return or 0.0 for t in judged]
        assert metrics[f"{strategy}.mean_agent_return"] == pytest.approx(sum(returns) / len(judged))
    trader_file = tracked.client.download_artifacts(run.info.run_id, TRADER_TABLE, str(tmp_path))
    trader = json.loads(Path(trader_file).read_text())
    assert len(trader["data"]) == len(result.trader)
    assert params["lr_max_iter"] == str(settings.lr_max_iter)
    assert params["signal_threshold"] == str(settings.signal_threshold)
    assert params["split_test_start"] < params["split_test_end"]
    (gold_input,) = run.inputs.dataset_inputs
    assert gold_input.dataset.name == "gold" and gold_input.dataset.source_type == "delta_table"
    assert (
        gold_input.dataset.source
        == f'{{"path": "{settings.table_path("gold")}", "delta_table_version": {tracked.version}}}'
    )
    # The Spark model, an MLflow model with the spark flavor, in the run's artifacts.
    logged = {a.path for a in tracked.client.list_artifacts(run.info.run_id, MODEL_ARTIFACT)}
    assert {f"{MODEL_ARTIFACT}/MLmodel", f"{MODEL_ARTIFACT}/sparkml"} <= logged
    # gold_ml names the run, so a row leads to its MLflow run and back.
    ml = read_table(settings, "gold_ml")
    assert ml.mlflow_run_id.tolist() == [run.info.run_id]


def test_the_champion_alias_loads_the_cycles_model_and_predicts(
    spark: SparkSession, tracked: TrackedLake
) -> None:
    settings, result = tracked.settings, tracked.result
    champion = tracked.client.get_model_version_by_alias(settings.mlflow_model_name, CHAMPION)
    assert champion.run_id == result.mlflow_run_id

    model = tracked.load(f"models:/{settings.mlflow_model_name}@champion")

    gold = spark.read.format("delta").load(settings.table_path("gold"))
    every_bar_closed = datetime(2100, 1, 1, tzinfo=UTC)
    frame = gold.transform(training_rows(every_bar_closed)).select(*FEATURE_NAMES).limit(5)
    served = model.transform(frame).select("probability", "prediction")
    saved = PipelineModel.load(str(result.model_path)).transform(frame)
    assert served.count() == 5
    assert_df_equality(served, saved.select("probability", "prediction"))


def test_a_later_ok_run_takes_the_alias_and_a_skipped_one_does_not(
    spark: SparkSession, tracked: TrackedLake
) -> None:
    settings = tracked.settings
    first = tracked.client.get_model_version_by_alias(settings.mlflow_model_name, CHAMPION)

    skipped = run_training_cycle(
        spark, settings.model_copy(update={"min_test_rows": 100_000}), run_id="tracked-skip"
    )
    assert skipped.status == "skipped"
    assert tracked.client.get_model_version_by_alias(
        settings.mlflow_model_name, CHAMPION
    ).version == (first.version)

    later = run_training_cycle(spark, settings, run_id="tracked-2")
    now = tracked.client.get_model_version_by_alias(settings.mlflow_model_name, CHAMPION)
    assert int(now.version) == int(first.version) + 1 and now.run_id == later.mlflow_run_id
    runs = tracked.runs()
    assert [r.info.run_name for r in runs][-2:] == ["tracked-skip", "tracked-2"]
    assert runs[-2].data.tags["financelake.status"] == "skipped"
    assert not tracked.client.list_artifacts(runs[-2].info.run_id, MODEL_ARTIFACT)  # no model


def test_maintenance_prunes_model_folders_but_not_the_mlflow_store(
    spark: SparkSession, tracked: TrackedLake
) -> None:
    settings = tracked.settings
    store = Path(settings.lake_root) / "_mlflow"
    files_before = {p for p in store.rglob("*") if p.is_file()}

    run = run_maintenance(
        spark, settings.model_copy(update={"keep_models": 1, "vacuum_retention": "0 seconds"})
    )

    assert run.ok, run.tables
    assert {p for p in store.rglob("*") if p.is_file()} >= files_before
    # The first run's model still loads from MLflow, whether its `_models` folder went or not.
    first = tracked.result.mlflow_run_id
    assert isinstance(tracked.load(f"runs:/{first}/{MODEL_ARTIFACT}"), PipelineModel)


def test_tracking_off_creates_no_mlflow_store(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINANCELAKE_MLFLOW", "off")
    settings = lake_settings(tmp_path)
    write_gold(
        spark, settings.table_path("gold"), synthetic_gold_bars(3, 240, seed=2, momentum=0.3)
    )

    result = run_training_cycle(spark, settings, run_id="untracked")

    assert result.mlflow_run_id is None
    assert not (Path(settings.lake_root) / "_mlflow").exists()
    assert read_table(settings, "gold_ml").mlflow_run_id.isna().all()


def test_a_failing_cycle_is_recorded_failed_and_the_check_says_so(
    spark: SparkSession, tmp_path: Path
) -> None:
    settings = lake_settings(tmp_path)
    version = write_gold(spark, settings.table_path("gold"), synthetic_gold_bars(2, 60, seed=3))
    # A gold_ml made before the mlflow_run_id column: the failed row must still go in.
    old_schema = StructType([f for f in GOLD_ML if f.name != "mlflow_run_id"])
    DeltaSink(spark, settings.table_path("gold_ml"), old_schema, partition_by=()).setup()

    with pytest.raises(Exception) as raised:
        run_training_cycle(spark, settings, as_of_version=version + 5, run_id="doomed")

    (row,) = read_table(settings, "gold_ml").itertuples()
    assert (row.run_id, row.status, row.gold_version) == ("doomed", "failed", version + 5)
    code = row.reason.split(":")[0]
    assert code and " " not in code and row.reason.endswith(str(raised.value).splitlines()[0])
    run = MlflowClient(tracking_uri=tracking_uri(settings)).get_run(row.mlflow_run_id)
    assert run.info.status == "FAILED" and run.data.tags["financelake.reason"] == row.reason
    columns = DeltaTable.forPath(spark, settings.table_path("gold_ml")).toDF().columns
    assert columns == GOLD_ML.fieldNames()

    report = status_report(settings, kafka_timeout_s=0.5)
    problems = check_status(report, max_lag=1_000, stale_s=120.0).problems
    assert f"the last training run doomed failed: {row.reason}" in problems


def test_a_cycle_asked_to_stop_is_not_a_failure(spark: SparkSession, tmp_path: Path) -> None:
    settings = lake_settings(tmp_path)
    write_gold(spark, settings.table_path("gold"), synthetic_gold_bars(2, 60, seed=4))

    result = run_training_cycle(spark, settings, run_id="stopped", should_stop=lambda: True)

    assert result.status == "abandoned"
    assert not DeltaTable.isDeltaTable(spark, settings.table_path("gold_ml"))
    client = MlflowClient(tracking_uri=tracking_uri(settings))
    assert client.get_run(str(result.mlflow_run_id)).info.status == "KILLED"
