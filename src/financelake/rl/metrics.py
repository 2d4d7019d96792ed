"""Risk and return figures of an equity path, annualised on a market calendar.

A path is the equity before each decision, one value per bar, with the bars' start times. The
calendar says how much trading time a year holds:

* `24x7` (the simulator, crypto): the market never closes; a year is 365 x 24 h.
* `equities`: 252 sessions of 6.5 h.

Periods per year = trading seconds per year / bar seconds. Gaps (bars that do not exist because
nothing traded) are handled by counting how many bar periods each return spans: under `24x7` the
time between the bars over the bar length; under `equities` the same within a session, while a
return across sessions (a gap of more than a session's length) counts as one period, because the
overnight move is part of the 252 x 6.5 h year's returns. Mean and variance are then per period:
mean = sum(r) / sum(k), variance = sum((r - mean k)^2 / k) / (n - 1), which is the usual sample
variance when every k is 1 and does not count a three-bar return as one bar's risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Calendar(StrEnum):
    """When the market trades, for annualising (see the module docstring)."""

    ALWAYS_OPEN = "24x7"
    EQUITIES = "equities"

    @property
    def trading_seconds_per_year(self) -> float:
        if self is Calendar.ALWAYS_OPEN:
            return 365 * 86_400.0
        return 252 * 6.5 * 3600.0

    @property
    def session_seconds(self) -> float:
        """Longest stretch of continuous trading: longer gaps span a close."""
        return math.inf if self is Calendar.ALWAYS_OPEN else 6.5 * 3600.0


@dataclass(frozen=True)
class PathMetrics:
    """Annualised and path-shape figures of one equity path (see `path_metrics`)."""

    sharpe: float
    sortino: float
    calmar: float
    annual_return: float
    max_drawdown: float
    max_drawdown_duration_s: float


def bar_periods(
    times: Sequence[Any] | npt.NDArray[Any], bar_seconds: float, calendar: Calendar
) -> FloatArray:
    """How many bar periods each step between consecutive bar times spans (>= 1 each)."""
    stamps = np.asarray(times).astype("datetime64[ns]").astype(np.int64) / 1e9
    gaps = np.diff(stamps)
    periods = np.maximum(np.round(gaps / bar_seconds), 1.0)
    return np.where(gaps > calendar.session_seconds, 1.0, periods)


def max_drawdown(equity: Sequence[float] | FloatArray) -> float:
    """Largest peak-to-trough fall of an equity path, as a positive fraction of the peak."""
    path = np.asarray(equity, dtype=np.float64)
    if len(path) == 0:
        return 0.0
    peaks = np.maximum.accumulate(path)
    return float(np.max(1.0 - path / peaks))


def max_drawdown_duration(
    equity: Sequence[float] | FloatArray, times: Sequence[Any] | npt.NDArray[Any]
) -> float:
    """Longest time in seconds spent below a previous peak (to recovery, or to the path's end)."""
    path = np.asarray(equity, dtype=np.float64)
    stamps = np.asarray(times).astype("datetime64[ns]").astype(np.int64) / 1e9
    longest, peak_at = 0.0, stamps[0] if len(stamps) else 0.0
    peak = -math.inf
    for value, stamp in zip(path.tolist(), stamps.tolist(), strict=True):
        if value >= peak:
            peak, peak_at = value, stamp
        longest = max(longest, stamp - peak_at)
    return float(longest)


def sharpe_ratio(
    equity: Sequence[float] | FloatArray,
    bar_seconds: float,
    calendar: Calendar = Calendar.ALWAYS_OPEN,
    periods: FloatArray | None = None,
) -> float:
    """Annualised Sharpe ratio (no risk-free rate) of an equity path; 0 without variation.

    `periods` (from `bar_periods`) says how many bar periods each step spans; all 1 if omitted.
    """
    returns, spans = _returns(equity, periods)
    if len(returns) < 2:
        return 0.0
    mean = returns.sum() / spans.sum()
    variance = float(((returns - mean * spans) ** 2 / spans).sum() / (len(returns) - 1))
    if not variance > 1e-30:
        return 0.0
    return float(mean / math.sqrt(variance) * math.sqrt(_per_year(bar_seconds, calendar)))


def path_metrics(
    equity: Sequence[float] | FloatArray,
    times: Sequence[Any] | npt.NDArray[Any],
    bar_seconds: float,
    calendar: Calendar = Calendar.ALWAYS_OPEN,
) -> PathMetrics:
    """Sharpe, Sortino, Calmar, annualised return, max drawdown and its duration of a path.

    Sortino divides the mean by the downside deviation (root mean square of the per-period
    shortfalls below 0); Calmar divides the annualised return by the max drawdown. Both are 0
    when their denominator is; the annualised return (and Calmar) is NaN when the path is far too
    short to compound over a year without overflowing.
    """
    periods = bar_periods(times, bar_seconds, calendar)
    returns, spans = _returns(equity, periods)
    path = np.asarray(equity, dtype=np.float64)
    per_year = _per_year(bar_seconds, calendar)
    drawdown = max_drawdown(path)
    total_periods = float(spans.sum())
    annual = 0.0
    if total_periods > 0 and path[0] > 0 and path[-1] > 0:
        exponent = math.log(path[-1] / path[0]) * per_year / total_periods
        # Minutes of gains compounded over a year overflow: too short a path to annualise.
        annual = math.expm1(exponent) if exponent < 700 else math.nan
    sortino = 0.0
    if len(returns) >= 2:
        downside = math.sqrt(float((np.minimum(returns, 0.0) ** 2).sum() / total_periods))
        if downside > 1e-15:
            sortino = float(returns.sum() / total_periods / downside * math.sqrt(per_year))
    return PathMetrics(
        sharpe=sharpe_ratio(path, bar_seconds, calendar, periods),
        sortino=sortino,
        calmar=annual / drawdown if drawdown > 1e-15 else 0.0 * annual,
        annual_return=annual,
        max_drawdown=drawdown,
        max_drawdown_duration_s=max_drawdown_duration(path, times),
    )


def _returns(
    equity: Sequence[float] | FloatArray, periods: FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    path = np.asarray(equity, dtype=np.float64)
    if len(path) < 2:
        return np.zeros(0), np.zeros(0)
    returns = np.diff(path) / path[:-1]
    spans = np.ones(len(returns)) if periods is None else np.asarray(periods, dtype=np.float64)
    if len(spans) != len(returns):
        raise ValueError(f"{len(returns)} returns but {len(spans)} period counts")
    return returns, spans


def _per_year(bar_seconds: float, calendar: Calendar) -> float:
    if bar_seconds <= 0:
        raise ValueError(f"bar_seconds must be > 0, got {bar_seconds}")
    return calendar.trading_seconds_per_year / bar_seconds
