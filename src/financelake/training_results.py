"""The training cycle's one results sink: typed node results -> rows of the result tables ->
one Delta append per table per run, through the streams' `DeltaSink` (its commit metadata names
the run and the Gold version it read)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from delta.tables import DeltaTable
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from financelake.config import Settings
from financelake.ml.features import FEATURE_NAMES
from financelake.ml.train import coefficients
from financelake.schemas import GOLD_ML, GOLD_RL, GOLD_RL_EQUITY, RESULT_TABLES
from financelake.streams.sinks import DeltaSink
from financelake.training_nodes import CLASSIFIER, FAILED, Q_LEARNING, Classified, Traded


@dataclass(eq=False)  # a sink is itself, not equal to another with the same fields
class ResultsSink:
    """Writes one run's results; each `write_*` is a single append commit to its table."""

    spark: SparkSession
    settings: Settings
    run_id: str
    trained_at: datetime
    version: int
    mlflow_run_id: str | None = None
    wrote_classifier: bool = field(default=False, init=False)

    def _append(self, table: str, rows: DataFrame) -> None:
        """Append one run's rows in one commit, creating the table on first use."""
        sink = DeltaSink.of(self.spark, self.settings, table)  # the catalog's partitioning
        sink.setup()
        _add_new_columns(self.spark, sink.path, RESULT_TABLES[table])
        note = json.dumps({"run_id": self.run_id, "gold_version": self.version})
        sink.append(rows.select(*RESULT_TABLES[table].fieldNames()), note)

    def write_predictions(self, classified: Classified) -> None:
        if classified.predictions is not None:
            rows = classified.predictions.select(
                F.lit(self.run_id).alias("run_id"), "*", F.to_date("window_start").alias("date")
            )
            self._append("gold_predictions", rows)

    def write_equity(self, traded: Traded) -> None:
        if len(traded.equity):
            frame = traded.equity.assign(
                run_id=self.run_id, action=traded.equity["action"].astype("int32")
            )
            rows = self.spark.createDataFrame(frame[GOLD_RL_EQUITY.fieldNames()], GOLD_RL_EQUITY)
            self._append("gold_rl_equity", rows)

    def write_strategies(
        self, traded: list[Traded], epsilon: float, q_table_source: str | None
    ) -> None:
        rows = [
            row
            for result in traded
            for row in rl_rows(
                self.run_id, self.trained_at, self.version, self.settings, result, epsilon,
                q_table_source,
            )
        ]  # fmt: skip
        if rows:
            self._append("gold_rl", self.spark.createDataFrame(rows, GOLD_RL))

    def write_classifier(
        self, watermark: datetime | None, classified: Classified, model_path: str | None
    ) -> None:
        row = ml_row(
            self.run_id,
            self.trained_at,
            self.version,
            watermark,
            classified,
            model_path,
            self.mlflow_run_id,
        )
        self._append("gold_ml", self.spark.createDataFrame([row], GOLD_ML))
        self.wrote_classifier = True

    def write_failure(self, reason: str) -> None:
        """The gold_ml row of a cycle that raised (status failed), unless the run's row is
        written already: one row per run, and that row says what the classifier did."""
        if not self.wrote_classifier:
            self.write_classifier(None, Classified(FAILED, reason), None)


def failure_reason(error: BaseException) -> str:
    """'<code>: <message>' of an error: Spark's error condition where it has one (e.g.
    DELTA_VERSIONS_NOT_CONTIGUOUS), else the exception's type; the message's first line."""
    code = error.getCondition() if isinstance(error, PySparkException) else None
    message = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
    return f"{code or type(error).__name__}: {message}"[:500]


def _add_new_columns(spark: SparkSession, path: str, schema: StructType) -> None:
    """Add the catalog's columns a table made by an earlier version lacks (nullable ones, such
    as gold_ml's mlflow_run_id), so an existing lake takes the new rows."""
    have = set(DeltaTable.forPath(spark, path).toDF().columns)
    missing = [column for column in schema if column.name not in have]
    if missing:
        columns = ", ".join(f"{c.name} {c.dataType.simpleString()}" for c in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")


def plain(value: Any) -> Any:
    """A pandas/numpy cell as a plain Python value for Spark rows: NaN/NA -> None, UTC datetimes."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
        return stamp.to_pydatetime()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def rl_rows(
    run_id: str,
    trained_at: datetime,
    version: int,
    settings: Settings,
    traded: Traded,
    epsilon: float,
    q_table_source: str | None,
) -> list[tuple[Any, ...]]:
    """gold_rl rows of one strategy: the book's parameters, then each symbol's figures."""
    agent = traded.strategy == Q_LEARNING
    params = {
        "run_id": run_id,
        "trained_at": trained_at,
        "gold_version": version,
        "initial_capital": float(settings.initial_capital),
        "position_size": float(settings.position_size),
        "fee_rate": float(settings.fee_rate),
        "allow_short": settings.allow_short,
        "calendar": settings.market_calendar,
        "alpha": float(settings.rl_alpha) if agent else None,
        "gamma": float(settings.rl_gamma) if agent else None,
        "epsilon": epsilon if agent else None,
        "episodes": settings.rl_episodes if agent else None,
        "q_table_source": q_table_source if agent else None,
        "signal_threshold": settings.signal_threshold if traded.strategy == CLASSIFIER else None,
    }
    out = []
    for record in traded.metrics.to_dict("records"):
        row = {**params, **{str(key): plain(value) for key, value in record.items()}}
        for name in ("trades", "closing_trades", "train_bars", "test_bars"):
            row[name] = None if row.get(name) is None else int(row[name])
        if row.get("never_traded") is not None:
            row["never_traded"] = bool(row["never_traded"])
        out.append(tuple(row.get(name) for name in GOLD_RL.fieldNames()))
    return out


def ml_row(
    run_id: str,
    trained_at: datetime,
    version: int,
    watermark: datetime | None,
    classified: Classified,
    model_path: str | None,
    mlflow_run_id: str | None = None,
) -> tuple[Any, ...]:
    """The gold_ml row of one run."""
    split = classified.split
    weights: tuple[float, ...] = ()
    intercept: float | None = None
    if classified.model is not None:
        fitted = coefficients(classified.model)
        weights, intercept = fitted.weights, fitted.intercept
    auc = classified.auc
    row = {
        "run_id": run_id,
        "trained_at": trained_at,
        "status": classified.status,
        "reason": classified.reason,
        "gold_version": version,
        "watermark": watermark,
        "train_rows": split.train_rows if split else None,
        "test_rows": split.test_rows if split else None,
        "train_start": split.train_start if split else None,
        "train_end": split.train_end if split else None,
        "test_start": split.test_start if split else None,
        "test_end": split.test_end if split else None,
        "test_positive_rate": split.test_positive_rate if split else None,
        "auc": auc.auc if auc else None,
        "auc_ci_low": auc.ci_low if auc else None,
        "auc_ci_high": auc.ci_high if auc else None,
        "auc_p_value": auc.p_value if auc else None,
        "fold_aucs": [float(value) for value in classified.fold_aucs],
        "features": list(FEATURE_NAMES),
        "coefficients": list(weights),
        "intercept": intercept,
        "model_path": model_path,
        "mlflow_run_id": mlflow_run_id,
    }
    return tuple(row[name] for name in GOLD_ML.fieldNames())
