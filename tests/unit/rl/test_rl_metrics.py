"""Annualised figures on a market calendar, with gaps; drawdown depth and duration."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from financelake.rl.metrics import (
    Calendar,
    bar_periods,
    max_drawdown_duration,
    path_metrics,
    sharpe_ratio,
)

PATH = [100.0, 110.0, 99.0, 118.8]  # returns +10%, -10%, +20%
MEAN, STD = 0.2 / 3, math.sqrt(0.07 / 3)


def test_sharpe_scales_with_the_calendar() -> None:
    assert sharpe_ratio(PATH, 86_400) == pytest.approx(MEAN / STD * math.sqrt(365))
    equities = sharpe_ratio(PATH, 3600, Calendar.EQUITIES)
    assert equities == pytest.approx(MEAN / STD * math.sqrt(252 * 6.5))


def test_gaps_count_the_bar_periods_they_span() -> None:
    minutes = pd.to_datetime(["2024-01-02 14:30", "2024-01-02 14:31", "2024-01-02 14:34"])
    assert list(bar_periods(minutes, 60, Calendar.ALWAYS_OPEN)) == [1.0, 3.0]
    overnight = pd.to_datetime(["2024-01-02 20:59", "2024-01-03 14:30"])
    assert list(bar_periods(overnight, 60, Calendar.EQUITIES)) == [1.0]  # across a close
    assert list(bar_periods(overnight, 60, Calendar.ALWAYS_OPEN)) == [1051.0]
    # A three-bar return is not three times one bar's risk: per-period mean and variance.
    path, periods = [100.0, 101.0, 104.0], np.array([1.0, 3.0])
    returns = np.array([0.01, 104 / 101 - 1])
    mean = returns.sum() / 4
    variance = ((returns - mean * periods) ** 2 / periods).sum() / 1
    expected = mean / math.sqrt(variance) * math.sqrt(525_600)
    assert sharpe_ratio(path, 60, Calendar.ALWAYS_OPEN, periods) == pytest.approx(expected)


def test_sortino_calmar_and_drawdown_duration_by_hand() -> None:
    times = pd.date_range("2024-01-01", periods=4, freq="1D")
    figures = path_metrics(PATH, times, 86_400)
    downside = math.sqrt(0.01 / 3)  # one shortfall of -10% over three periods
    assert figures.sortino == pytest.approx(MEAN / downside * math.sqrt(365))
    assert figures.max_drawdown == pytest.approx(0.1)
    assert figures.annual_return == pytest.approx(1.188 ** (365 / 3) - 1)
    assert figures.calmar == pytest.approx(figures.annual_return / 0.1)
    assert figures.max_drawdown_duration_s == 86_400  # below the peak for one day, then a new high
    flat = path_metrics([100.0, 100.0, 100.0], times[:3], 86_400)
    assert (flat.sharpe, flat.sortino, flat.calmar, flat.max_drawdown) == (0.0, 0.0, 0.0, 0.0)


def test_an_unrecovered_drawdown_lasts_to_the_end() -> None:
    times = pd.date_range("2024-01-01", periods=5, freq="1min")
    assert max_drawdown_duration([100.0, 120.0, 90.0, 100.0, 110.0], times) == 180.0
