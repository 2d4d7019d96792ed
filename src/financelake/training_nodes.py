"""The training cycle's nodes: frames in, typed results out, nothing written.

* `classify`: split, fit, score and judge the classifier (AUC with its DeLong interval);
* `trade`: train the Q-learning agent on the earlier bars, judge it on the later ones;
* `trade_signal`: trade the classifier's P(up) on the same book and judge it the same way.

Baselines and intervals are the pure functions of `financelake.rl.compare` and
`financelake.ml.auc`. `financelake.training` wires these nodes and writes their results.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from financelake.config import Settings
from financelake.ml.auc import AucEstimate, delong_auc
from financelake.ml.evaluate import PREDICTION, PROBABILITY_UP, area_under_roc, scored
from financelake.ml.features import LABEL
from financelake.ml.split import TimeSplit, before, between, plan_time_split, plan_walk_forward
from financelake.ml.train import fit_classifier
from financelake.rl import QLearningAgent, backtest_all
from financelake.rl.backtest import COUNT_COLUMNS, METRIC_COLUMNS, evaluate_policy
from financelake.rl.env import TradingEnv
from financelake.rl.metrics import Calendar
from financelake.rl.snapshots import Hyper
from financelake.rl.strategies import Policy, signal

log = logging.getLogger(__name__)

OK, SKIPPED, ABANDONED, FAILED = "ok", "skipped", "abandoned", "failed"
TEST, FORWARD = "test", "forward"
Q_LEARNING, CLASSIFIER = "q_learning", "classifier"


@dataclass
class Classified:
    """The classifier's part of a cycle: its verdict, and what the writers and the signal need."""

    status: str
    reason: str | None
    split: TimeSplit | None = None
    model: PipelineModel | None = None
    predictions: DataFrame | None = None
    """Test and forward rows, cached (the caller unpersists them)."""
    scores: pd.DataFrame | None = None
    """The same rows on the driver: kind, symbol, window_start, probability_up, label."""
    auc: AucEstimate | None = None
    fold_aucs: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Traded:
    """One strategy's rows: `metrics` (one per symbol, gold_rl's metric columns with `strategy`,
    `status` and `reason`) and, for the agent, its book at every test bar (`equity`)."""

    strategy: str
    metrics: pd.DataFrame
    equity: pd.DataFrame


def classify(
    rows: DataFrame, bars: pd.DataFrame, settings: Settings, stop: Callable[[], bool]
) -> Classified:
    """Split, fit, score and judge the classifier; a skipped result says why it could not.

    `rows` are the closed bars with features and labels (Spark), `bars` their (window_start,
    label) on the driver for the split planner.
    """
    known = bars[bars[LABEL].notna()]
    if len(known) < settings.min_labelled_bars:
        return Classified(
            SKIPPED,
            f"{len(known)} labelled closed bars, need at least {settings.min_labelled_bars}",
        )
    try:
        split = plan_time_split(known["window_start"], known[LABEL], settings.test_fraction)
    except ValueError as error:
        return Classified(SKIPPED, str(error))
    problem = split.problem()
    if problem is None and split.test_rows < settings.min_test_rows:
        problem = (
            f"{split.test_rows} test rows, need at least {settings.min_test_rows} "
            "(min_test_rows) for an AUC that means something"
        )
    if problem is not None:
        return Classified(SKIPPED, problem, split)
    if stop():  # the fit is the slow part: do not start it when the service is shutting down
        return Classified(ABANDONED, "asked to stop", split)

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
    scores = predictions.drop(PREDICTION).toPandas()
    test = scores[scores["kind"] == TEST]
    return Classified(
        OK,
        None,
        split,
        model,
        predictions,
        scores,
        delong_auc(test[PROBABILITY_UP], test[LABEL]),
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


def _on_any_env(policy: Policy) -> Callable[[TradingEnv], Policy]:
    """A policy that does not depend on the env it plays (a precomputed signal)."""
    return lambda env: policy


def trader_hyper(settings: Settings) -> Hyper:
    """The agent's learning parameters from the settings."""
    return Hyper(
        alpha=settings.rl_alpha,
        gamma=settings.rl_gamma,
        seed=settings.seed,
    )


def _book(settings: Settings) -> dict[str, float | bool]:
    return {
        "initial_capital": settings.initial_capital,
        "position_size": settings.position_size,
        "fee_rate": settings.fee_rate,
        "allow_short": settings.allow_short,
    }


def trade(bars: pd.DataFrame, agent: QLearningAgent, settings: Settings) -> Traded:
    """Train `agent` (in place) on every symbol's earlier bars and judge it on the later ones.

    `bars`: symbol, window_start, close of the closed bars. See `financelake.rl.backtest_all`.
    """
    metrics, equity = backtest_all(
        bars[["symbol", "window_start", "close"]],
        **_book(settings),  # type: ignore[arg-type]
        agent=agent,
        episodes=settings.rl_episodes,
        seed=settings.seed,
        test_fraction=settings.test_fraction,
        bar_seconds=settings.bar_seconds,
        min_bars=settings.min_labelled_bars,
        min_test_bars=settings.min_test_bars,
        calendar=Calendar(settings.market_calendar),
    )
    return Traded(Q_LEARNING, metrics.assign(strategy=Q_LEARNING), equity)


def trade_signal(bars: pd.DataFrame, scores: pd.DataFrame, settings: Settings) -> Traded:
    """Trade the classifier: long while P(up) > `signal_threshold`, flat otherwise.

    Each symbol is traded from its first scored bar (the classifier's test part) to its last
    closed bar, on the agent's book and fees, and judged against the same baselines.
    """
    book = _book(settings)
    calendar = Calendar(settings.market_calendar)
    rows: list[dict[str, object]] = []
    for symbol, frame in bars.groupby("symbol", sort=True):
        frame = frame.sort_values("window_start", kind="stable", ignore_index=True)
        mine = scores[scores["symbol"] == symbol].set_index("window_start")[PROBABILITY_UP]
        probability = frame["window_start"].map(mine)
        scored_at = np.flatnonzero(probability.notna().to_numpy())
        start = int(scored_at[0]) if len(scored_at) else len(frame)
        test_bars = len(frame) - start
        if test_bars < max(2, settings.min_test_bars):
            reason = f"{test_bars} scored bar(s), need at least {max(2, settings.min_test_bars)}"
            rows.append({"symbol": symbol, "status": SKIPPED, "reason": reason})
            continue
        long = (probability.fillna(0.0) > settings.signal_threshold).to_numpy()
        figures, _ = evaluate_policy(
            frame,
            start,
            _on_any_env(signal(long)),
            book,
            settings.bar_seconds,
            calendar,
            settings.seed,
        )
        rows.append({"symbol": symbol, "status": OK, "reason": None, **figures})
    metrics = pd.DataFrame(rows, columns=["symbol", "status", "reason", *METRIC_COLUMNS])
    metrics = metrics.astype({column: "Int64" for column in COUNT_COLUMNS})
    return Traded(CLASSIFIER, metrics.assign(strategy=CLASSIFIER), pd.DataFrame())
