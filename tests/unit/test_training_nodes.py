"""The training nodes on small in-memory frames: no Spark, no tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from financelake.config import Settings
from financelake.rl import QLearningAgent
from financelake.training_nodes import CLASSIFIER, Q_LEARNING, trade, trade_signal


def _bars(closes: dict[str, list[float]]) -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                "symbol": symbol,
                "window_start": pd.date_range("2024-01-01", periods=len(close), freq="1min"),
                "close": close,
                "label": np.nan,
            }
        )
        for symbol, close in closes.items()
    ]
    return pd.concat(frames, ignore_index=True)


def _scores(bars: pd.DataFrame, probability: float, start: int) -> pd.DataFrame:
    tail = bars.groupby("symbol").nth(slice(start, None))
    return tail.assign(kind="test", probability_up=probability)[
        ["kind", "symbol", "window_start", "probability_up"]
    ]


SETTINGS = Settings(min_test_bars=5, fee_rate=0.001, signal_threshold=0.55, seed=3)


def test_a_confident_signal_on_a_rising_market_is_buy_and_hold() -> None:
    bars = _bars({"UP": list(np.linspace(100, 120, 30))})
    traded = trade_signal(bars, _scores(bars, 0.9, start=20), SETTINGS)
    row = traded.metrics.iloc[0]
    assert traded.strategy == CLASSIFIER and row["strategy"] == CLASSIFIER
    assert (row["status"], row["train_bars"], row["test_bars"], row["trades"]) == ("ok", 20, 10, 1)
    assert row["agent_return"] == pytest.approx(row["buy_hold_return"])
    assert row["exposure"] == pytest.approx(1.0)
    assert row["excess_vs_exposure_matched"] == pytest.approx(0.0, abs=1e-12)
    assert row["random_return"] < row["buy_hold_return"]  # random pays fees and misses the rise


def test_an_unconfident_signal_never_trades_and_short_symbols_are_skipped() -> None:
    bars = _bars({"FLAT": [100.0] * 30, "SHORT": [100.0] * 23})
    traded = trade_signal(bars, _scores(bars, 0.5, start=20), SETTINGS)
    by_symbol = traded.metrics.set_index("symbol")
    assert by_symbol.loc["FLAT", "never_traded"] and by_symbol.loc["FLAT", "trades"] == 0
    assert by_symbol.loc["FLAT", "agent_return"] == 0.0
    assert by_symbol.loc["SHORT", "status"] == "skipped"
    assert "3 scored bar(s), need at least 5" in by_symbol.loc["SHORT", "reason"]


def test_trade_returns_the_agent_rows_and_its_book() -> None:
    rng = np.random.default_rng(0)
    bars = _bars({"A": list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200))))})
    agent = QLearningAgent(seed=1)
    traded = trade(bars, agent, SETTINGS.model_copy(update={"rl_episodes": 2}))
    row = traded.metrics.iloc[0]
    assert traded.strategy == Q_LEARNING and row["strategy"] == Q_LEARNING
    assert agent.episodes == 2  # trained in place
    assert len(traded.equity) == row["test_bars"] == 40
    assert traded.equity["equity"].iloc[-1] == row["final_portfolio_value"]
