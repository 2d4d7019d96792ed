"""The training cycle: read one Gold version, run the nodes, record everything as one run.

One cycle, in order (the nodes are in `financelake.training_nodes`, the writer in
`financelake.training_results`; this module only wires them):

1. Read Gold at its latest version (or `as_of_version`, Delta time travel) and remember which.
2. Keep closed bars only: window_end <= watermark = max(last_tick_at) - watermark delay (the
   same rule as the Gold stream's), so no bar that may still change is used; and only those of
   the last `training_window` of market time before it, so a cycle's cost stays bounded.
3. `classify`: features and next-bar label per bar, a time split on one global cutoff, a
   pipeline fitted on the training part, AUC with a DeLong interval on the test part. Skipped,
   with the reason, below `min_labelled_bars` labelled bars or `min_test_rows` test rows, or
   when a part lacks a class.
4. `trade`: the Q-learning agent on the same closed bars, judged per symbol against hold,
   buy-and-hold, a random policy and exposure-matched buy-and-hold; symbols below
   `min_labelled_bars` bars or `min_test_bars` test bars are skipped with the reason. It starts
   from the live Q-table (latest Gold) or from the table the first run on `as_of_version`
   started from (see `financelake.rl.snapshots`); only a run on the latest Gold updates the
   live table. `trade_signal`: the classifier's P(up) traded on the same book, judged the same.
5. Unless `should_stop()` says otherwise, write: the fitted model (MLlib save), then the detail
   tables (gold_predictions, gold_rl_equity), then the per-run tables (gold_rl, gold_ml), then
   the Q-table snapshots. A reader who sees a run in gold_ml can find all of its details.
6. With MLflow tracking on (`financelake.tracking`), the cycle is one MLflow run: Gold and its
   version as the dataset input, then, after the Delta writes, parameters, metrics and the
   model; an ok model becomes the registered `champion`. A cycle that raises is recorded as a
   gold_ml row with status failed and the error (and its MLflow run ends FAILED).

Every table write is a single append (one Delta commit per table per run). Re-running with
`as_of_version` reproduces the classifier exactly (same rows, same order, same partitioning, a
deterministic optimiser) and the trader too (same starting table, same seed).
"""

from __future__ import annotations

import copy
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from financelake.config import Settings
from financelake.errors import LakeError
from financelake.ml.features import LABEL, training_rows
from financelake.rl.snapshots import QTableStore
from financelake.tracking import CycleRun, tracked_cycle
from financelake.training_nodes import (
    ABANDONED,
    OK,
    Classified,
    Traded,
    classify,
    trade,
    trade_signal,
    trader_hyper,
)
from financelake.training_results import ResultsSink, failure_reason, plain
from financelake.transforms.gold import watermark_from

log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TraderSummary:
    """One symbol and strategy in a cycle, as the service logs it."""

    symbol: str
    strategy: str
    status: str
    reason: str | None
    agent_return: float | None = None
    excess_vs_exposure_matched: float | None = None
    excess_ci_low: float | None = None
    excess_ci_high: float | None = None
    trades: int | None = None


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
    auc_ci_low: float | None = None
    auc_ci_high: float | None = None
    fold_aucs: tuple[float, ...] = ()
    model_path: str | None = None
    trader: tuple[TraderSummary, ...] = ()
    classifier_seconds: float = 0.0
    trader_seconds: float = 0.0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    """The cycle's MLflow run (None with tracking off or failed to start)."""

    @property
    def fold_auc_mean(self) -> float | None:
        """Mean AUC of the walk-forward folds that could be scored, None without any."""
        scored_folds = [auc for auc in self.fold_aucs if not math.isnan(auc)]
        return sum(scored_folds) / len(scored_folds) if scored_folds else None

    def summary(self) -> str:
        """One log line: the classifier's verdict and the strategies', with the time taken."""
        if self.status == OK:
            classifier = (
                f"AUC {self.auc:.3f} [{self.auc_ci_low:.3f}, {self.auc_ci_high:.3f}] on "
                f"{self.test_rows} test bars ({self.test_positive_rate:.0%} up), "
                f"{self.train_rows} train bars"
            )
            if self.fold_aucs:
                folds = ", ".join(f"{auc:.3f}" for auc in self.fold_aucs)
                mean = self.fold_auc_mean
                classifier += (
                    f"; walk-forward [{folds}] mean {mean:.3f}" if mean is not None else ""
                )
        else:
            classifier = f"classifier {self.status}: {self.reason}"
        strategies = sorted({t.strategy for t in self.trader})
        parts = []
        for strategy in strategies or ["trader"]:
            rows = [t for t in self.trader if t.strategy == strategy]
            judged = [t for t in rows if t.status == OK and t.excess_ci_low is not None]
            above = sum(1 for t in judged if (t.excess_ci_low or 0.0) > 0)
            below = sum(1 for t in judged if (t.excess_ci_high or 0.0) < 0)
            parts.append(
                f"{strategy} {len(judged)}/{len(rows)} symbols, excess vs exposure-matched "
                f"above 0 on {above}, below on {below}"
            )
        return (
            f"run {self.run_id} on gold v{self.gold_version} ({self.closed_bars} closed bars): "
            f"{classifier}; {'; '.join(parts)}; {self.seconds:.1f}s "
            f"(classifier {self.classifier_seconds:.1f}s, trader {self.trader_seconds:.1f}s)"
        )


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

    `as_of_version` re-trains on that Gold version (time travel) instead of the latest, the
    trader from the table the first run on that version started from, without touching the live
    table; `run_id` names the run (default: `new_run_id()`); `should_stop` is asked before each
    expensive step and before the first write, and a True abandons the cycle with nothing
    written. Raises LakeError when Gold does not exist. A cycle that raises otherwise (and was
    not asked to stop) leaves a gold_ml row with status failed and the error, then re-raises.
    The cycle is also one MLflow run when tracking is on (`financelake.tracking`).
    """
    started = time.perf_counter()
    trained_at = datetime.now(UTC)
    run_id = run_id or new_run_id(trained_at)
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run_id {run_id!r} must be letters, digits, '_', '.' or '-'")
    stop = should_stop or (lambda: False)
    gold_path = settings.table_path("gold")
    version = gold_version(spark, gold_path) if as_of_version is None else as_of_version
    with tracked_cycle(settings, run_id) as tracking:
        tracking.log_gold(gold_path, version)
        sink = ResultsSink(spark, settings, run_id, trained_at, version, tracking.id)
        try:
            return _cycle(spark, settings, sink, as_of_version, stop, tracking, started)
        except Exception as error:
            if not stop():  # Spark jobs cancelled for a shutdown are not a failed cycle
                reason = failure_reason(error)
                tracking.log_failure(reason)
                _record_failure(sink, reason)
            raise


def _record_failure(sink: ResultsSink, reason: str) -> None:
    """The failed gold_ml row; the cycle's own error is what the caller raises either way."""
    try:
        sink.write_failure(reason)
    except Exception as write_error:
        log.warning("could not record failed run %s in gold_ml: %s", sink.run_id, write_error)


def _cycle(
    spark: SparkSession,
    settings: Settings,
    sink: ResultsSink,
    as_of_version: int | None,
    stop: Callable[[], bool],
    tracking: CycleRun,
    started: float,
) -> CycleResult:
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = now - since
        return now

    run_id, version = sink.run_id, sink.version
    gold_path = settings.table_path("gold")
    gold = spark.read.format("delta").option("versionAsOf", version).load(gold_path)
    latest = gold.agg(F.max("last_tick_at")).first()
    # Spark hands back local naive datetimes; an aware UTC one means the same instant anywhere.
    last_tick = latest[0].astimezone(UTC) if latest and latest[0] else None
    watermark = watermark_from(last_tick, settings.watermark_seconds)
    window = timedelta(seconds=settings.training_window_seconds)
    since = None if watermark is None else watermark - window
    rows = gold.transform(training_rows(watermark, since)).cache()
    predictions: DataFrame | None = None
    base = {
        "run_id": run_id,
        "gold_version": version,
        "watermark": watermark,
        "mlflow_run_id": sink.mlflow_run_id,
    }

    def abandoned(closed: int) -> CycleResult:
        tracking.abandon()
        return _abandoned(base, closed, started, timings)

    try:
        # One pass over Gold: it fills the cache, and gives the trader its bars and the split
        # planner its (window_start, label) pairs without further Spark jobs.
        bars = rows.select("symbol", "window_start", "close", LABEL).toPandas()
        mark = lap("read", started)
        if stop():
            return abandoned(len(bars))

        classified = classify(rows, bars, settings, stop)
        predictions = classified.predictions
        mark = lap("classifier", mark)
        if classified.status == ABANDONED or stop():
            return abandoned(len(bars))

        store = QTableStore(Path(settings.models_path)) if settings.is_local_lake else None
        hyper = trader_hyper(settings)
        agent, source = (
            store.starting_agent(hyper, as_of_version) if store else (hyper.fresh(), "fresh")
        )
        start_table = copy.deepcopy(agent)
        traded = [trade(bars, agent, settings)]
        if classified.scores is not None:
            traded.append(trade_signal(bars, classified.scores, settings))
        mark = lap("trader", mark)
        if stop():
            return abandoned(len(bars))

        model_path = None
        if classified.model is not None:
            model_path = f"{settings.models_path}/classifier/{run_id}"
            classified.model.write().overwrite().save(model_path)
            mark = lap("write_model", mark)
        sink.write_predictions(classified)
        sink.write_equity(traded[0])
        sink.write_strategies(traded, float(start_table.epsilon), source)
        sink.write_classifier(watermark, classified, model_path)
        mark = lap("write_tables", mark)
        if store is not None:
            store.record(version, run_id, start_table, agent, live=as_of_version is None)
    finally:
        if predictions is not None:
            predictions.unpersist()
        rows.unpersist()

    # After the Delta writes: tracking never delays them, and cannot fail them.
    tracking.log_cycle(
        classified,
        traded,
        closed_bars=len(bars),
        tags={"gold_version": version, "model_path": model_path, "q_table_source": source},
    )
    if tracking.active:
        lap("mlflow", mark)
    result = _result(base, classified, traded, len(bars), model_path, started, timings)
    log.info("%s", result.summary())
    return result


def _result(
    base: dict[str, Any],
    classified: Classified,
    traded: list[Traded],
    closed: int,
    model_path: str | None,
    started: float,
    timings: dict[str, float],
) -> CycleResult:
    split, auc = classified.split, classified.auc
    return CycleResult(
        status=classified.status,
        reason=classified.reason,
        closed_bars=closed,
        train_rows=split.train_rows if split else None,
        test_rows=split.test_rows if split else None,
        test_positive_rate=split.test_positive_rate if split else None,
        auc=auc.auc if auc else None,
        auc_ci_low=auc.ci_low if auc else None,
        auc_ci_high=auc.ci_high if auc else None,
        fold_aucs=tuple(classified.fold_aucs),
        model_path=model_path,
        trader=tuple(_trader_summaries(traded)),
        classifier_seconds=timings["read"] + timings["classifier"],
        trader_seconds=timings["trader"],
        seconds=time.perf_counter() - started,
        timings=timings,
        **base,
    )


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


def _trader_summaries(traded: list[Traded]) -> Iterable[TraderSummary]:
    for result in traded:
        for record in result.metrics.to_dict("records"):
            values = {str(key): plain(value) for key, value in record.items()}
            yield TraderSummary(
                symbol=str(values["symbol"]),
                strategy=result.strategy,
                status=str(values["status"]),
                reason=values.get("reason"),
                agent_return=values.get("agent_return"),
                excess_vs_exposure_matched=values.get("excess_vs_exposure_matched"),
                excess_ci_low=values.get("excess_ci_low"),
                excess_ci_high=values.get("excess_ci_high"),
                trades=None if values.get("trades") is None else int(values["trades"]),
            )
