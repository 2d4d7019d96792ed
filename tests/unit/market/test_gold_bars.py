"""The synthetic Gold bars: the pipeline's columns, seeded, consistent bars, and the process the
training tests rely on (momentum is the lag-1 autocorrelation of the returns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from financelake.market.gold_bars import synthetic_gold_bars
from financelake.schemas import GOLD


def _lag1_autocorrelation(bars: pd.DataFrame) -> float:
    returns = np.diff(np.log(bars["close"].to_numpy()))
    return float(np.corrcoef(returns[:-1], returns[1:])[0, 1])


def test_bars_have_golds_columns_and_a_seed_repeats_them() -> None:
    bars = synthetic_gold_bars(3, 50, seed=4)

    assert list(bars.columns) == GOLD.fieldNames()
    assert len(bars) == 150
    assert bars.groupby("symbol").size().to_dict() == {"S000": 50, "S001": 50, "S002": 50}
    pd.testing.assert_frame_equal(bars, synthetic_gold_bars(3, 50, seed=4))
    assert not bars["close"].equals(synthetic_gold_bars(3, 50, seed=5)["close"])


def test_each_bar_is_consistent() -> None:
    bars = synthetic_gold_bars(2, 500, seed=1)

    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["window_end"] - bars["window_start"] == pd.Timedelta(minutes=1)).all()
    assert (bars["last_tick_at"] < bars["window_end"]).all()
    assert (bars["date"] == bars["window_start"].dt.date).all()
    assert (bars["tick_count"] >= 1).all()


@pytest.mark.parametrize("momentum", [0.0, 0.4])
def test_momentum_is_the_returns_autocorrelation(momentum: float) -> None:
    bars = synthetic_gold_bars(1, 20_000, seed=2, momentum=momentum)

    # The standard error of a lag-1 autocorrelation from 20,000 returns is about 0.007.
    assert _lag1_autocorrelation(bars) == pytest.approx(momentum, abs=0.03)


def test_gaps_drop_about_their_share_but_keep_each_symbols_ends() -> None:
    bars = synthetic_gold_bars(2, 1_000, seed=3, gap_rate=0.2)

    for _, own in bars.groupby("symbol"):
        assert 700 < len(own) < 900
        assert own["window_start"].min() == pd.Timestamp("2024-01-01")
        assert own["window_start"].max() == pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=999)
