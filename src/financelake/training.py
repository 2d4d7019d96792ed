"""The training cycle: read one Gold version, fit and judge the classifier, backtest the trader,
then record everything as one run in four Delta tables.

One cycle, in order:

1. Read Gold at its latest version (or `as_of_version`, Delta time travel) and remember which.
2. Keep closed bars only: window_end <= watermark = max(last_tick_at) - watermark delay (the
   same rule as the Gold stream's), so no bar that may still change is used.
3. Classifier (`financelake.ml`): features and next-bar label per bar, a time split on one global
   cutoff, a pipeline (assembler, scaler, logistic regression) fitted on the training part, AUC
   on the test part; optional walk-forward folds. Skipped, with the reason recorded, when there
   are fewer than `min_labelled_bars` labelled bars or a part lacks one of the classes.
4. Trader (`financelake.rl.backtest_all`) on the same closed bars. It runs whether or not the
   classifier was skipped; symbols with fewer than `min_labelled_bars` closed bars (or fewer than
   two bars after its own time cutoff) are recorded as skipped with their reason. Its Q-table is
   carried between cycles in `<models_path>/q_table.json` when the lake is on local disk.
5. Unless `should_stop()` says otherwise, write: the fitted model (MLlib save), then the detail
   tables (gold_predictions, gold_rl_equity), then the per-run tables (gold_rl, gold_ml), then
   the Q-table. A reader who sees a run in gold_ml can therefore find all of its details.

Every table write is a single append (one Delta commit per table per run). Re-running with
`as_of_version` reproduces the classifier exactly (same rows, same order, same partitioning, a
deterministic optimiser); the trader's result differs when its Q-table has learned since.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from financelake.config import Settings
from financelake.errors import LakeError
from financelake.ml.evaluate import PREDICTION, PROBABILITY_UP, area_under_roc, scored
from financelake.ml.features import FEATURE_NAMES, LABEL, training_rows
from financelake.ml.split import TimeSplit, before, between, plan_time_split, plan_walk_forward
from financelake.ml.train import coefficients, fit_classifier
from financelake.rl import QLearningAgent, backtest_all
from financelake.schemas import (
    GOLD_ML,
    GOLD_RL,
    GOLD_RL_EQUITY,
    RESULT_TABLES,
)
from financelake.streams.sinks import DeltaSink
from financelake.transforms.gold import watermark_from

log = logging.getLogger(__name__)

OK, SKIPPED, ABANDONED = "ok", "skipped", "abandoned"
TEST, FORWARD = "test", "forward"


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TraderSummary:
    """One symbol's backtest in a cycle, as the service logs it."""

    symbol: str
    status: str
    reason: str | None
    total_return: float | None
    buy_hold_return: float | None
    final_portfolio_value: float | None
    trades: int | None


@dataclass(frozen=True)
class CycleResult:
    """What one training cycle did. `status` is the classifier's: ok, skipped (with `reason`), or
    abandoned (should_stop() said so before anything was written; nothing was)."""

    run_id: str
    status: str
    reason: str | None
    gold_version: int
    watermark: datetime | None
    closed_bars: int
    train_rows: int | None = None
    test_rows: int | None = None
    test_positive_rate: float | None = None
    auc: float | None = None
    fold_aucs: tuple[float, ...] = ()
    model_path: str | None = None
    trader: tuple[TraderSummary, ...] = ()
    classifier_seconds: float = 0.0
    trader_seconds: float = 0.0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def fold_auc_mean(self) -> float | None:
        """Mean AUC of the walk-forward folds that could be scored, None without any."""
        scored_folds = [auc for auc in self.fold_aucs if not math.isnan(auc)]
        return sum(scored_folds) / len(scored_folds) if scored_folds else None

    def summary(self) -> str:
        """One log line: the classifier's verdict and the trader's, with the time taken."""
        if self.status == OK:
            classifier = (
                f"AUC {self.auc:.3f} on {self.test_rows} test bars "
                f"({self.test_positive_rate:.0%} up), {self.train_rows} train bars"
            )
            if self.fold_aucs:
                folds = ", ".join(f"{auc:.3f}" for auc in self.fold_aucs)
                mean = self.fold_auc_mean
                classifier += (
                    f"; walk-forward [{folds}] mean {mean:.3f}" if mean is not None else ""
                )
        else:
            classifier = f"classifier {self.status}: {self.reason}"
        traded = [t for t in self.trader if t.status == OK and t.total_return is not None]
        if traded:
            mean_return = sum(t.total_return or 0.0 for t in traded) / len(traded)
            trader = (
                f"trader {len(traded)}/{len(self.trader)} symbols, mean return {mean_return:+.2%}"
            )
        else:
            trader = f"trader 0/{len(self.trader)} symbols"
        return (
            f"run {self.run_id} on gold v{self.gold_version} ({self.closed_bars} closed bars): "
            f"{classifier}; {trader}; {self.seconds:.1f}s "
            f"(classifier {self.classifier_seconds:.1f}s, trader {self.trader_seconds:.1f}s)"
        )


@dataclass
class _Classified:
    """The classifier's part of a cycle, before anything is written."""

    status: str
    reason: str | None
    split: TimeSplit | None = None
    model: PipelineModel | None = None
    predictions: DataFrame | None = None
    auc: float | None = None
    fold_aucs: list[float] = field(default_factory=list)


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, path-safe run id: UTC start time plus a random suffix."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"


def gold_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of the Delta table at `path`."""
    try:
        row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    except AnalysisException as error:
        raise LakeError(
            f"no Delta table at {path}; start the pipeline so that Gold exists, then train"
        ) from error
    if row is None:
        raise LakeError(f"the Delta table at {path} has no history; is it being created?")
    return int(row[0])


def run_training_cycle(
    spark: SparkSession,
    settings: Settings,
    as_of_version: int | None = None,
    run_id: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CycleResult:
    """Run one training cycle (see the module docstring) and return what it did.

    `as_of_version` re-trains on that Gold version (time travel) instead of the latest;
    `run_id` names the run (default: `new_run_id()`); `should_stop` is asked before each
    expensive step and before the first write, and a True abandons the cycle with nothing
    written. Raises LakeError when Gold does not exist.
    """
    started = time.perf_counter()
    trained_at = datetime.now(UTC)
    run_id = run_id or new_run_id(trained_at)
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run_id {run_id!r} must be letters, digits, '_', '.' or '-'")
    stop = should_stop or (lambda: False)
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        return now

    gold_path = settings.table_path("gold")
    version = gold_version(spark, gold_path) if as_of_version is None else as_of_version
    gold = spark.read.format("delta").option("versionAsOf", version).load(gold_path)
    latest = gold.agg(F.max("last_tick_at")).first()
    # Spark hands back local naive datetimes; an aware UTC one means the same instant anywhere.
    last_tick = latest[0].astimezone(UTC) if latest and latest[0] else None
    watermark = watermark_from(last_tick, settings.watermark_seconds)
    rows = gold.transform(training_rows(watermark)).cache()
    predictions: DataFrame | None = None
    try:
        # One pass over Gold: it fills the cache, and gives the trader its bars and the split
        # planner its (window_start, label) pairs without further Spark jobs.
        bars = rows.select("symbol", "window_start", "close", LABEL).toPandas()
        mark = lap("read", started)
        base = {"run_id": run_id, "gold_version": version, "watermark": watermark}
        if stop():
            return _abandoned(base, len(bars), started, timings)

        classified = _classify(rows, bars, settings, stop)
        predictions = classified.predictions
        mark = lap("classifier", mark)
        if classified.status == ABANDONED or stop():
            return _abandoned(base, len(bars), started, timings)

        agent, q_table, epsilon = _trader_agent(settings)
        metrics, equity = backtest_all(
            bars[["symbol", "window_start", "close"]],
            initial_capital=settings.initial_capital,
            position_size=settings.position_size,
            fee_rate=settings.fee_rate,
            allow_short=settings.allow_short,
            agent=agent,
            episodes=settings.rl_episodes,
            seed=settings.seed,
            test_fraction=settings.test_fraction,
            bar_seconds=settings.bar_seconds,
            min_bars=settings.min_labelled_bars,
        )
        mark = lap("trader", mark)
        if stop():
            return _abandoned(base, len(bars), started, timings)

        model_path = None
        if classified.model is not None:
            model_path = f"{settings.models_path}/classifier/{run_id}"
            classified.model.write().overwrite().save(model_path)
            mark = lap("write_model", mark)
        if classified.predictions is not None:
            rows_of_run = classified.predictions.select(F.lit(run_id).alias("run_id"), "*")
            _append(spark, settings, "gold_predictions", rows_of_run)
            mark = lap("write_gold_predictions", mark)
        if len(equity):
            _append(spark, settings, "gold_rl_equity", _equity_frame(spark, run_id, equity))
            mark = lap("write_gold_rl_equity", mark)
        if len(metrics):
            rl_rows = _rl_rows(run_id, trained_at, version, settings, epsilon, metrics)
            _append(spark, settings, "gold_rl", spark.createDataFrame(rl_rows, GOLD_RL))
            mark = lap("write_gold_rl", mark)
        ml_row = _ml_row(run_id, trained_at, version, watermark, classified, model_path)
        _append(spark, settings, "gold_ml", spark.createDataFrame([ml_row], GOLD_ML))
        mark = lap("write_gold_ml", mark)
        if q_table is not None:
            agent.save(q_table)
    finally:
        if predictions is not None:
            predictions.unpersist()
        rows.unpersist()

    split = classified.split
    result = CycleResult(
        run_id=run_id,
        status=classified.status,
        reason=classified.reason,
        gold_version=version,
        watermark=watermark,
        closed_bars=len(bars),
        train_rows=split.train_rows if split else None,
        test_rows=split.test_rows if split else None,
        test_positive_rate=split.test_positive_rate if split else None,
        auc=classified.auc,
        fold_aucs=tuple(classified.fold_aucs),
        model_path=model_path,
        trader=tuple(_trader_summaries(metrics)),
        classifier_seconds=timings["read"] + timings["classifier"],
        trader_seconds=timings["trader"],
        seconds=time.perf_counter() - started,
        timings=timings,
    )
    log.info("%s", result.summary())
    return result


def _abandoned(
    base: dict[str, Any], closed: int, started: float, timings: dict[str, float]
) -> CycleResult:
    log.info("training run %s abandoned before writing: asked to stop", base["run_id"])
    return CycleResult(
        status=ABANDONED,
        reason="asked to stop before writing",
        closed_bars=closed,
        seconds=time.perf_counter() - started,
        timings=timings,
        **base,
    )


def _classify(
    rows: DataFrame, bars: pd.DataFrame, settings: Settings, stop: Callable[[], bool]
) -> _Classified:
    """Split, fit, score and judge the classifier; a skipped result says why it could not."""
    known = bars[bars[LABEL].notna()]
    if len(known) < settings.min_labelled_bars:
        return _Classified(
            SKIPPED,
            f"{len(known)} labelled closed bars, need at least {settings.min_labelled_bars}",
        )
    try:
        split = plan_time_split(known["window_start"], known[LABEL], settings.test_fraction)
    except ValueError as error:
        return _Classified(SKIPPED, str(error))
    problem = split.problem()
    if problem is not None:
        return _Classified(SKIPPED, problem, split)
    if stop():  # the fit is the slow part: do not start it when the service is shutting down
        return _Classified(ABANDONED, "asked to stop", split)

    model = fit_classifier(
        rows.transform(before(split.cutoff)),
        max_iter=settings.lr_max_iter,
        reg_param=settings.lr_reg_param,
    )
    targets = rows.where(F.col(LABEL).isNull() | (F.col("window_start") >= F.lit(split.cutoff)))
    predictions = (
        targets.transform(scored(model))
        .select(
            F.when(F.col(LABEL).isNull(), FORWARD).otherwise(TEST).alias("kind"),
            "symbol",
            "window_start",
            PROBABILITY_UP,
            PREDICTION,
            LABEL,
        )
        .cache()
    )
    auc = area_under_roc(predictions.where(F.col("kind") == TEST))
    return _Classified(
        OK,
        None,
        split,
        model,
        predictions,
        auc,
        _walk_forward_aucs(rows, known, settings, stop),
    )


def _walk_forward_aucs(
    rows: DataFrame, known: pd.DataFrame, settings: Settings, stop: Callable[[], bool]
) -> list[float]:
    """Each fold's test AUC (NaN for a fold whose train or test part lacks a class)."""
    try:
        folds = plan_walk_forward(known["window_start"], settings.walk_forward_folds)
    except ValueError as error:
        log.info("no walk-forward folds: %s", error)
        return []
    aucs: list[float] = []
    starts = pd.to_datetime(known["window_start"], utc=True)
    for fold in folds:
        if stop():
            break
        in_train = starts < fold.test_start
        in_test = ~in_train
        if fold.test_stop is not None:
            in_test &= starts < fold.test_stop
        if any(known[LABEL][part].nunique() < 2 for part in (in_train, in_test)):
            aucs.append(math.nan)
            continue
        model = fit_classifier(
            rows.transform(before(fold.test_start)),
            max_iter=settings.lr_max_iter,
            reg_param=settings.lr_reg_param,
        )
        test = rows.transform(between(fold.test_start, fold.test_stop)).transform(scored(model))
        aucs.append(area_under_roc(test))
    return aucs


def _trader_agent(settings: Settings) -> tuple[QLearningAgent, Path | None, float]:
    """The Q-learning agent this cycle continues (or starts), where to keep it, its epsilon.

    The table lives next to the classifier models when the lake is on local disk; elsewhere each
    cycle starts afresh (the JSON file is written with local file operations).
    """
    hyper = {
        "alpha": settings.rl_alpha,
        "gamma": settings.rl_gamma,
        "epsilon_decay": settings.rl_epsilon_decay,
    }
    path = Path(f"{settings.models_path}/q_table.json") if settings.is_local_lake else None
    if path is not None and path.exists():
        agent = QLearningAgent.load(path, seed=settings.seed)
        # The table and its decayed epsilon carry over; the learning rates follow the settings.
        agent.alpha, agent.gamma = hyper["alpha"], hyper["gamma"]
        agent.epsilon_decay = hyper["epsilon_decay"]
    else:
        agent = QLearningAgent(epsilon=settings.rl_epsilon, seed=settings.seed, **hyper)
    return agent, path, float(agent.epsilon)


def _append(spark: SparkSession, settings: Settings, table: str, rows: DataFrame) -> None:
    """Append one run's rows to a result table in one commit, creating the table on first use."""
    sink = DeltaSink(spark, settings.table_path(table), RESULT_TABLES[table], partition_by=())
    sink.setup()
    rows.select(*RESULT_TABLES[table].fieldNames()).write.format("delta").mode("append").save(
        sink.path
    )


def _py(value: Any) -> Any:
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


def _rl_rows(
    run_id: str,
    trained_at: datetime,
    version: int,
    settings: Settings,
    epsilon: float,
    metrics: pd.DataFrame,
) -> list[tuple[Any, ...]]:
    params = {
        "run_id": run_id,
        "trained_at": trained_at,
        "gold_version": version,
        "initial_capital": float(settings.initial_capital),
        "position_size": float(settings.position_size),
        "fee_rate": float(settings.fee_rate),
        "allow_short": settings.allow_short,
        "alpha": float(settings.rl_alpha),
        "gamma": float(settings.rl_gamma),
        "epsilon": epsilon,
        "episodes": settings.rl_episodes,
    }
    out = []
    for record in metrics.to_dict("records"):
        row = {**params, **{str(key): _py(value) for key, value in record.items()}}
        for name in ("trades", "closing_trades", "train_bars", "test_bars"):
            row[name] = None if row.get(name) is None else int(row[name])
        out.append(tuple(row.get(name) for name in GOLD_RL.fieldNames()))
    return out


def _equity_frame(spark: SparkSession, run_id: str, equity: pd.DataFrame) -> DataFrame:
    frame = equity.assign(run_id=run_id, action=equity["action"].astype("int32"))
    return spark.createDataFrame(frame[GOLD_RL_EQUITY.fieldNames()], GOLD_RL_EQUITY)


def _ml_row(
    run_id: str,
    trained_at: datetime,
    version: int,
    watermark: datetime | None,
    classified: _Classified,
    model_path: str | None,
) -> tuple[Any, ...]:
    split = classified.split
    weights: tuple[float, ...] = ()
    intercept: float | None = None
    if classified.model is not None:
        fitted = coefficients(classified.model)
        weights, intercept = fitted.weights, fitted.intercept
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
        "auc": classified.auc,
        "fold_aucs": [float(auc) for auc in classified.fold_aucs],
        "features": list(FEATURE_NAMES),
        "coefficients": list(weights),
        "intercept": intercept,
        "model_path": model_path,
    }
    return tuple(row[name] for name in GOLD_ML.fieldNames())


def _trader_summaries(metrics: pd.DataFrame) -> Iterable[TraderSummary]:
    for record in metrics.to_dict("records"):
        values = {str(key): _py(value) for key, value in record.items()}
        yield TraderSummary(
            symbol=str(values["symbol"]),
            status=str(values["status"]),
            reason=values.get("reason"),
            total_return=values.get("total_return"),
            buy_hold_return=values.get("buy_hold_return"),
            final_portfolio_value=values.get("final_portfolio_value"),
            trades=None if values.get("trades") is None else int(values["trades"]),
        )
