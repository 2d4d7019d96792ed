"""Judge a strategy against baselines that fit it, with an interval on the difference.

Buy-and-hold is always 100% invested; a strategy that is invested a third of the time is
compared with buy-and-hold scaled to a third (`exposure_matched_return`), so that being out of a
falling market does not count as skill. The difference is measured bar by bar,
d_t = r_strategy_t - exposure x r_market_t, and its uncertainty comes from a moving-block
bootstrap of the d_t (bar returns are autocorrelated, so single-bar resampling would understate
it; blocks of about n^(1/3) bars keep short-range dependence, the usual rule of thumb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from financelake.rl.metrics import Calendar, path_metrics

FloatArray = npt.NDArray[np.float64]
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class BookPath:
    """A strategy's book over the evaluated bars.

    `equity[t]` is the equity before the decision at bar t (n + 1 values for n steps, the last is
    the final value); `exposure[t]` the fraction of equity invested over step t (after its fill).
    """

    times: npt.NDArray[np.datetime64]
    closes: FloatArray
    equity: FloatArray
    exposure: FloatArray
    trades: int
    fees_paid: float

    @property
    def total_return(self) -> float:
        return float(self.equity[-1] / self.equity[0] - 1.0)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Judgement:
    """A strategy's figures beside its baselines (the gold_rl metric columns)."""

    final_portfolio_value: float
    agent_return: float
    buy_hold_return: float
    hold_return: float
    random_return: float
    exposure: float
    exposure_matched_return: float
    excess_vs_exposure_matched: float
    excess_ci_low: float
    excess_ci_high: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_s: float
    trades: int
    never_traded: bool
    fees_paid: float
    test_bars: int


def block_bootstrap_sum(
    values: FloatArray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    block: int | None = None,
    seed: int = 0,
) -> Interval:
    """Interval for the sum of `values` from a circular moving-block bootstrap.

    Percentile interval of the resampled sums; all-equal values give a zero-width interval.
    """
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    if n == 0:
        return Interval(0.0, 0.0)
    size = block or max(1, math.ceil(n ** (1 / 3)))
    rng = np.random.default_rng(seed)
    blocks = math.ceil(n / size)
    starts = rng.integers(0, n, (resamples, blocks))
    index = (starts[:, :, None] + np.arange(size)).reshape(resamples, -1)[:, :n] % n
    sums = data[index].sum(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(sums, [tail, 100 - tail])
    return Interval(float(low), float(high))


def buy_and_hold_return(closes: FloatArray, fee_rate: float) -> float:
    """All equity in at the first close paying one fee, marked at the last close."""
    return float(closes[-1] / (closes[0] * (1.0 + fee_rate)) - 1.0)


def judge(
    path: BookPath,
    *,
    fee_rate: float,
    random_return: float,
    bar_seconds: float,
    calendar: Calendar = Calendar.ALWAYS_OPEN,
    seed: int = 0,
) -> Judgement:
    """Compare a strategy's path with hold (0), buy-and-hold, random and exposure-matched.

    `excess_vs_exposure_matched` = strategy return - exposure x buy-and-hold return; its interval
    is that point plus the bootstrap spread of the summed per-bar differences (see the module
    docstring).
    """
    closes = path.closes
    market = np.diff(closes) / closes[:-1]
    strategy = np.diff(path.equity) / path.equity[:-1]
    exposure = float(path.exposure.mean()) if len(path.exposure) else 0.0
    buy_hold = buy_and_hold_return(closes, fee_rate)
    matched = exposure * buy_hold
    excess = path.total_return - matched
    differences = strategy - exposure * market
    spread = block_bootstrap_sum(differences, seed=seed)
    centre = float(differences.sum())
    figures = path_metrics(path.equity, path.times, bar_seconds, calendar)
    return Judgement(
        final_portfolio_value=float(path.equity[-1]),
        agent_return=path.total_return,
        buy_hold_return=buy_hold,
        hold_return=0.0,
        random_return=random_return,
        exposure=exposure,
        exposure_matched_return=matched,
        excess_vs_exposure_matched=excess,
        excess_ci_low=excess + spread.low - centre,
        excess_ci_high=excess + spread.high - centre,
        sharpe=figures.sharpe,
        sortino=figures.sortino,
        calmar=figures.calmar,
        max_drawdown=figures.max_drawdown,
        max_drawdown_duration_s=figures.max_drawdown_duration_s,
        trades=path.trades,
        never_traded=path.trades == 0,
        fees_paid=path.fees_paid,
        test_bars=len(closes),
    )
