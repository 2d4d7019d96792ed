"""Synthetic closed Gold bars from a known process, pure and seeded: for work that needs many
bars at once without Kafka or the streams (the bench's training cycle, the training tests). The
process is known, so a test can say what an honest model should find in it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from financelake.schemas import GOLD


def synthetic_gold_bars(
    n_symbols: int,
    n_bars: int,
    *,
    seed: int,
    momentum: float = 0.0,
    start: str = "2024-01-01",
    gap_rate: float = 0.0,
) -> pd.DataFrame:
    """`n_bars` 1-minute Gold bars per symbol (the GOLD columns, in order) from a log-price process.

    Bar-to-bar log returns follow r_t = momentum x r_(t-1) + e_t, e_t ~ N(0, 1%): momentum 0 is
    a driftless random walk (nothing to predict), momentum > 0 a persistent trend (a rise tends to
    follow a rise). Symbols start at prices from 5 to 5,000 so the features must be scale-free.
    Each bar's last tick is 59 s into its window. `gap_rate` drops that share of bars at random
    (never a symbol's first or last).
    """
    rng = np.random.default_rng(seed)
    frames = []
    starts = pd.date_range(start, periods=n_bars, freq="1min")
    for k in range(n_symbols):
        shocks = rng.normal(0.0, 0.01, n_bars)
        returns = np.empty(n_bars)
        previous = 0.0
        for t in range(n_bars):  # a recursion: each return needs the one before
            previous = momentum * previous + shocks[t]
            returns[t] = previous
        close = 5.0 * 1000 ** (k / max(n_symbols - 1, 1)) * np.exp(np.cumsum(returns))
        open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, 0.001, n_bars))
        ticks = rng.integers(1, 30, n_bars)
        single = ticks == 1
        open_ = np.where(single, close, open_)
        spread = np.abs(rng.normal(0, 0.002, n_bars))
        high = np.maximum(open_, close) * (1 + np.where(single, 0, spread))
        low = np.minimum(open_, close) / (1 + np.where(single, 0, spread))
        avg = (open_ + close + high + low) / 4
        frame = pd.DataFrame(
            {
                "symbol": f"S{k:03d}",
                "window_start": starts,
                "window_end": starts + pd.Timedelta(minutes=1),
                "open": open_,
                "high": high,
                "low": low,
                "close": close,
                "avg_price": avg,
                "price_volatility": np.where(single, 0.0, (high - low) / 4),
                "total_volume": rng.lognormal(8, 1, n_bars).astype("int64") * ticks,
                "vwap": avg,
                "tick_count": ticks.astype("int64"),
                "avg_price_change": returns / np.maximum(ticks, 1) * 100,
                "last_tick_at": starts + pd.Timedelta(seconds=59),
                "date": starts.date,
            }
        )
        if gap_rate:
            keep = rng.random(n_bars) >= gap_rate
            keep[[0, -1]] = True
            frame = frame[keep]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[GOLD.fieldNames()]
