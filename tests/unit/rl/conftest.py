"""Bars for the RL tests: small, in memory, deterministic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

MakeBars = Callable[..., pd.DataFrame]


def _make_bars(close: np.ndarray | list[float], symbol: str = "TEST") -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "window_start": pd.date_range("2024-01-01", periods=len(close), freq="1min"),
            "close": close,
        }
    )


@pytest.fixture
def make_bars() -> MakeBars:
    """Build one symbol's bars (window_start every minute) from a sequence of closes."""
    return _make_bars


@pytest.fixture
def random_walk() -> Callable[[int, int], np.ndarray]:
    """Closes of a driftless geometric random walk with 1% per-bar volatility."""

    def walk(seed: int, n: int = 1000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))

    return walk
