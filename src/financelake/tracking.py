"""MLflow tracking of the training cycle: one MLflow run per cycle, the champion by alias.

Optional: it needs the `financelake[mlflow]` extra and is on whenever mlflow can be imported,
unless FINANCELAKE_MLFLOW=off. By default runs and the model registry live in a file store
under the lake, `<lake_root>/_mlflow`; FINANCELAKE_MLFLOW_TRACKING_URI points both elsewhere.

A cycle's run holds its parameters (hyper-parameters, split, thresholds), its metrics (the AUC
with its interval and p-value, the trader's figures per strategy; per symbol in one table
artifact), the Gold table and version it read as its dataset input, and the fitted Spark model.
The model of each run whose status is ok becomes a version of the registered model
`mlflow_model_name` and takes the alias `champion`:
`mlflow.spark.load_model("models:/<name>@champion")`.

Logging is explicit (autolog is not tested with pyspark 4.2). The Delta result tables are the
system of record and MLflow a view of them for people, so no tracking error ever reaches the
cycle: each is logged as a warning, and the run's remaining logging is skipped.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from financelake.config import Settings, local_path
from financelake.ml.features import FEATURE_NAMES
from financelake.training_nodes import FAILED, OK, Classified, Traded
from financelake.training_results import plain

if TYPE_CHECKING:
    from mlflow.data.meta_dataset import MetaDataset

log = logging.getLogger(__name__)

MLFLOW_FOLDER = "_mlflow"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"
TRADER_TABLE = "trader.json"
TRADER_FIGURES = (
    "agent_return",
    "buy_hold_return",
    "exposure_matched_return",
    "excess_vs_exposure_matched",
    "excess_ci_low",
    "excess_ci_high",
    "sharpe",
    "max_drawdown",
    "trades",
    "win_rate",
    "fees_paid",
)
"""gold_rl's per-symbol figures, logged per run as one table artifact (`TRADER_TABLE`)."""
_HYPER_PARAMETERS = (
    "bar_interval",
    "watermark_delay",
    "training_window",
    "min_labelled_bars",
    "test_fraction",
    "walk_forward_folds",
    "lr_max_iter",
    "lr_reg_param",
    "min_test_rows",
    "min_test_bars",
    "initial_capital",
    "position_size",
    "fee_rate",
    "allow_short",
    "rl_alpha",
    "rl_gamma",
    "rl_episodes",
    "market_calendar",
    "signal_threshold",
    "seed",
)
_ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
_told: set[str] = set()  # one-time notices already logged by this process


def tracking_uri(settings: Settings) -> str | None:
    """Where runs and the registry go: the setting, else a file store `<lake>/_mlflow` for a
    local lake; None for a remote lake without a setting (the file store is local only)."""
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    lake = local_path(settings.lake_root)
    return None if lake is None else (lake / MLFLOW_FOLDER).as_uri()


def tracking_enabled(settings: Settings) -> bool:
    """Whether cycles are tracked: the setting is on and the mlflow extra is installed."""
    return settings.mlflow and importlib.util.find_spec("mlflow") is not None


def run_params(settings: Settings, classified: Classified) -> dict[str, str]:
    """The run's parameters: hyper-parameters and thresholds, then the split when there was one."""
    params = {name: str(getattr(settings, name)) for name in _HYPER_PARAMETERS}
    params["features"] = ",".join(FEATURE_NAMES)
    split = classified.split
    if split is not None:
        for name in ("cutoff", "train_start", "train_end", "test_start", "test_end"):
            params[f"split_{name}"] = _text(getattr(split, name))
    return params


def run_metrics(
    classified: Classified, traded: Sequence[Traded], closed_bars: int
) -> dict[str, float]:
    """The run's metrics: the classifier's (AUC with its 95% interval and p-value against 0.5),
    then each strategy's over its judged symbols. Missing and NaN figures are left out."""
    metrics: dict[str, float | None] = {"closed_bars": closed_bars}
    split, auc = classified.split, classified.auc
    if split is not None:
        metrics |= {
            "train_rows": split.train_rows,
            "test_rows": split.test_rows,
            "test_positive_rate": split.test_positive_rate,
        }
    if auc is not None:
        metrics |= {
            "auc": auc.auc,
            "auc_ci_low": auc.ci_low,
            "auc_ci_high": auc.ci_high,
            "auc_p_value": auc.p_value,
        }
    scored_folds = [value for value in classified.fold_aucs if not math.isnan(value)]
    if scored_folds:
        metrics["fold_auc_mean"] = sum(scored_folds) / len(scored_folds)
    for result in traded:
        metrics |= {f"{result.strategy}.{key}": value for key, value in _judged(result).items()}
    numbers = {key: _number(value) for key, value in metrics.items()}
    return {key: value for key, value in numbers.items() if value is not None}


def _judged(traded: Traded) -> dict[str, float | None]:
    """A strategy's figures over its judged symbols: how many, on how many its excess over the
    exposure-matched buy-and-hold is above / below 0 at 95%, means and totals. Per symbol they
    are in gold_rl and the run's trader table: as metrics, in MLflow's file store (one file per
    metric), they would be ~11 files per symbol and run."""
    frame = traded.metrics
    judged = frame[frame["status"] == OK] if "status" in frame else frame.iloc[0:0]

    def figure(name: str) -> pd.Series:
        return pd.to_numeric(judged.get(name, pd.Series(dtype=float)), errors="coerce")

    return {
        "symbols_judged": len(judged),
        "symbols_excess_above_0": int((figure("excess_ci_low") > 0).sum()),
        "symbols_excess_below_0": int((figure("excess_ci_high") < 0).sum()),
        "mean_agent_return": figure("agent_return").mean(),
        "mean_excess_vs_exposure_matched": figure("excess_vs_exposure_matched").mean(),
        "mean_sharpe": figure("sharpe").mean(),
        "mean_max_drawdown": figure("max_drawdown").mean(),
        "trades": figure("trades").sum(min_count=1),
        "fees_paid": figure("fees_paid").sum(min_count=1),
    }


def trader_table(traded: Sequence[Traded]) -> dict[str, list[Any]]:
    """Every strategy's per-symbol figures, column by column (the run's `TRADER_TABLE`)."""
    rows = [
        {"strategy": result.strategy, **record}
        for result in traded
        for record in result.metrics.to_dict("records")
    ]
    columns = ("strategy", "symbol", "status", "reason", *TRADER_FIGURES)
    return {column: [plain(row.get(column)) for row in rows] for column in columns}


def gold_dataset(gold_path: str, version: int) -> MetaDataset:
    """The Gold table at `version` as an MLflow dataset: its Delta path and version only, so
    that logging it reads no data (its digest is a hash of name, path and version)."""
    from mlflow.data.delta_dataset_source import DeltaDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    source = DeltaDatasetSource(path=gold_path, delta_table_version=version)
    # mypy reads Dataset.profile as abstract; MetaDataset answers it (None) at run time.
    return MetaDataset(source, name="gold")  # type: ignore[abstract]


class CycleRun:
    """One training cycle's MLflow run, or nothing when tracking is off. No method raises."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self._settings = settings
        self.id: str | None = None
        """The MLflow run's id; None when tracking is off or the run could not start."""
        self.champion_version: str | None = None
        self._open = False
        self._outcome = "FINISHED"
        if not tracking_enabled(settings):
            return
        uri = tracking_uri(settings)
        if uri is None:
            _tell_once(
                "remote-lake",
                "MLflow tracking is off: the lake %s is not a local path and MLflow's default "
                "file store is local only; set FINANCELAKE_MLFLOW_TRACKING_URI to track runs",
                settings.lake_root,
            )
            return
        try:
            self._start(uri, run_id)
        except Exception as error:  # never the cycle's problem: see the module docstring
            _warn("start", error)

    @property
    def active(self) -> bool:
        """Whether the run is open for logging (started, not ended, no tracking error)."""
        return self._open

    def _start(self, uri: str, run_id: str) -> None:
        if local_path(uri) is not None and _ALLOW_FILE_STORE not in os.environ:
            # MLflow 3 refuses its file store unless this is set: it is in maintenance mode, and
            # MLflow recommends a database. It is still the store that keeps runs beside the lake
            # with nothing to run, so it stays the default, and the user is told once.
            os.environ[_ALLOW_FILE_STORE] = "true"
            _tell_once(
                "file-store",
                "MLflow tracks to its file store %s, which MLflow 3 keeps in maintenance mode; "
                "FINANCELAKE_MLFLOW_TRACKING_URI=sqlite:///<path>.db uses a database instead",
                uri,
            )
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = mlflow.MlflowClient()
        name = self._settings.mlflow_experiment
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        run = mlflow.start_run(
            experiment_id=experiment_id, run_name=run_id, tags={"financelake.run_id": run_id}
        )
        self.id, self._open = run.info.run_id, True

    def log_gold(self, gold_path: str, version: int) -> None:
        """The Gold table and version the cycle reads, as the run's training dataset."""
        dataset = partial(gold_dataset, gold_path, version)
        self._guarded("dataset input", lambda: _mlflow().log_input(dataset(), "training"))

    def log_cycle(
        self,
        classified: Classified,
        traded: Sequence[Traded],
        *,
        closed_bars: int,
        tags: Mapping[str, object],
    ) -> None:
        """Parameters, metrics and tags of a finished cycle, then its model; an ok model
        becomes the champion."""

        def log_figures() -> None:
            mlflow = _mlflow()
            mlflow.log_params(run_params(self._settings, classified))
            mlflow.log_metrics(run_metrics(classified, traded, closed_bars))
            if traded:
                mlflow.log_table(trader_table(traded), artifact_file=TRADER_TABLE)
            for fold, value in enumerate(classified.fold_aucs):
                if not math.isnan(value):  # a fold that lacked a class has no AUC
                    mlflow.log_metric("fold_auc", value, step=fold)
            mlflow.set_tags(
                {
                    "financelake.status": classified.status,
                    **{k: _text(v) for k, v in tags.items() if v is not None},
                }
            )

        self._guarded("parameters and metrics", log_figures)
        if classified.model is not None:
            self._guarded("model", lambda: self._log_model(classified))

    def _log_model(self, classified: Classified) -> None:
        import mlflow.spark
        import pyspark
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema

        signature = ModelSignature(
            inputs=Schema([ColSpec("double", name) for name in FEATURE_NAMES]),
            outputs=Schema([ColSpec("double", "prediction")]),
        )
        info = mlflow.spark.log_model(
            classified.model,
            artifact_path=MODEL_ARTIFACT,
            signature=signature,
            # Given, so MLflow does not infer them by reloading the model in a new process
            # (a second JVM); the model needs pyspark and nothing else.
            pip_requirements=[f"pyspark=={pyspark.__version__}"],
            # Spark writes the model here first (its executors must reach it), then MLflow
            # copies it into the run; beside the lake, that holds on a cluster too.
            dfs_tmpdir=f"{self._settings.models_path}/_mlflow_tmp",
        )
        if classified.status != OK:
            return
        name = self._settings.mlflow_model_name
        version = mlflow.register_model(info.model_uri, name, await_registration_for=0)
        mlflow.MlflowClient().set_registered_model_alias(name, CHAMPION, version.version)
        self.champion_version = str(version.version)
        mlflow.set_tag("financelake.champion_version", self.champion_version)

    def log_failure(self, reason: str) -> None:
        """The cycle raised: its status and error as tags (the run then ends FAILED)."""
        tags = {"financelake.status": FAILED, "financelake.reason": reason}
        self._guarded("failure", lambda: _mlflow().set_tags(tags))

    def abandon(self) -> None:
        """The cycle stopped on request before writing: the run ends KILLED."""
        self._outcome = "KILLED"

    def end(self, failed: bool = False) -> None:
        """End the run: FAILED if the cycle raised, KILLED if abandoned, FINISHED otherwise."""
        if self.active:
            outcome = "FAILED" if failed else self._outcome
            self._open = False
            try:
                _mlflow().end_run(outcome)
            except Exception as error:  # never the cycle's problem: see the module docstring
                _warn("end", error)

    def _guarded(self, what: str, work: Callable[[], None]) -> None:
        """Do `work` while the run is active; on an error, warn and end the run FAILED."""
        if not self.active:
            return
        try:
            work()
        except Exception as error:  # never the cycle's problem: see the module docstring
            _warn(what, error)
            self.end(failed=True)


@contextmanager
def tracked_cycle(settings: Settings, run_id: str) -> Iterator[CycleRun]:
    """One cycle's MLflow run for the duration of the block; FAILED if the block raises."""
    run = CycleRun(settings, run_id)
    try:
        yield run
    except BaseException:
        run.end(failed=True)
        raise
    run.end()


def _mlflow() -> Any:
    import mlflow

    return mlflow


def _warn(what: str, error: Exception) -> None:
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    log.warning(
        "MLflow tracking (%s) failed; the cycle goes on and its Delta results are kept: %s",
        what,
        first_line,
    )


def _tell_once(key: str, message: str, *args: object) -> None:
    if key not in _told:
        _told.add(key)
        log.warning(message, *args)


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def model_uri(settings: Settings) -> str:
    """The champion's model URI, for `mlflow.spark.load_model`."""
    return f"models:/{settings.mlflow_model_name}@{CHAMPION}"
