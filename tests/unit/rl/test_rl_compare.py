"""Baselines that fit the strategy, and the block-bootstrap interval on the difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from financelake.rl.compare import BookPath, block_bootstrap_sum, judge


def _path(closes: list[float], exposure: list[float], fee: float = 0.0) -> BookPath:
    """A fee-free book invested `exposure[t]` over each step (equity follows from the closes)."""
    close = np.asarray(closes)
    market = np.diff(close) / close[:-1]
    equity = 100.0 * np.cumprod(np.concatenate([[1.0], 1 + np.asarray(exposure) * market]))
    times = pd.date_range("2024-01-01", periods=len(close), freq="1min").to_numpy()
    trades = int(np.count_nonzero(np.diff(np.concatenate([[0.0], exposure]))))
    return BookPath(times, close, equity, np.asarray(exposure), trades, fee)


def test_never_trading_on_a_falling_market_is_no_skill() -> None:
    path = _path([100.0, 95.0, 90.0, 85.0], [0.0, 0.0, 0.0])
    judged = judge(path, fee_rate=0.001, random_return=-0.01, bar_seconds=60)
    assert judged.buy_hold_return < -0.1  # buy-and-hold lost; the old "excess" called this +15%
    assert (judged.exposure, judged.exposure_matched_return) == (0.0, 0.0)
    assert judged.excess_vs_exposure_matched == 0.0
    assert (judged.excess_ci_low, judged.excess_ci_high) == (0.0, 0.0)
    assert judged.never_traded and judged.trades == 0 and judged.hold_return == 0.0


def test_half_invested_all_the_time_matches_its_baseline() -> None:
    rng = np.random.default_rng(0)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300))))
    judged = judge(_path(closes, [0.5] * 299), fee_rate=0.0, random_return=0.0, bar_seconds=60)
    assert judged.exposure == 0.5
    assert judged.exposure_matched_return == pytest.approx(0.5 * judged.buy_hold_return)
    # Constant-mix compounding differs from scaled buy-and-hold by a second-order term only.
    assert abs(judged.excess_vs_exposure_matched) < 0.01
    assert judged.excess_ci_low <= judged.excess_vs_exposure_matched <= judged.excess_ci_high


def test_bootstrap_is_seeded_and_widens_with_dependence() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, 2000)
    assert block_bootstrap_sum(noise, seed=3) == block_bootstrap_sum(noise, seed=3)
    plain = block_bootstrap_sum(noise, seed=3)
    assert plain.low < noise.sum() < plain.high
    # Autocorrelated values (a moving sum of 20 draws) have a wider interval on their sum
    # than the same values shuffled, which single-value resampling could not tell apart.
    smooth = np.convolve(noise, np.ones(20) / 20, mode="same")
    shuffled = rng.permutation(smooth)
    width = block_bootstrap_sum(smooth, block=40).high - block_bootstrap_sum(smooth, block=40).low
    flat = block_bootstrap_sum(shuffled, block=40)
    assert width > 2 * (flat.high - flat.low)


def test_bootstrap_covers_a_known_mean() -> None:
    # AR(1) noise with mean 0: the 95% interval on the sum covers 0 in most of 100 draws.
    covered = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        shocks = rng.normal(0, 1, 500)
        values = np.empty(500)
        values[0] = shocks[0]
        for t in range(1, 500):
            values[t] = 0.5 * values[t - 1] + shocks[t]
        covered += block_bootstrap_sum(values, resamples=400, seed=seed).contains(0.0)
    assert covered >= 85  # measured 90+; single-value resampling covers about 70
