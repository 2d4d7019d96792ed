"""Backtest: metric definitions, the time split, and whether learning is real (and only real)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from financelake.rl import (
    BUY,
    SELL,
    QLearningAgent,
    TradingEnv,
    backtest_all,
    backtest_symbol,
    max_drawdown,
    sharpe_ratio,
)


def test_sharpe_and_drawdown_by_hand() -> None:
    path = [100.0, 110.0, 99.0, 118.8]  # returns +10%, -10%, +20%
    mean, std = 0.2 / 3, math.sqrt(0.07 / 3)  # sample std: squared deviations 0.14/3 over 2
    assert sharpe_ratio(path, bar_seconds=86_400) == pytest.approx(mean / std * math.sqrt(365))
    assert sharpe_ratio(path, bar_seconds=60) == pytest.approx(mean / std * math.sqrt(525_600))
    assert max_drawdown(path) == pytest.approx(0.1)
    assert max_drawdown([100.0, 120.0, 90.0, 130.0, 104.0]) == pytest.approx(0.25)
    assert sharpe_ratio([100.0, 100.0, 100.0], 60) == 0.0  # no variation, no ratio
    assert max_drawdown([100.0, 101.0, 102.0]) == 0.0


def alternating(n: int, seed: int) -> np.ndarray:
    """Closes that alternate 99 / 101 with a little noise: after a fall, a rise (and vice versa)."""
    rng = np.random.default_rng(seed)
    return 100 * (1 + 0.01 * (-1.0) ** (np.arange(n) + 1)) * np.exp(rng.normal(0, 0.001, n))


def test_equity_curve_audits_the_metrics(make_bars) -> None:
    bars = make_bars(alternating(201, 0))
    metrics, curve = backtest_symbol(bars, episodes=3, seed=1, test_fraction=0.25)
    assert list(curve.columns) == ["window_start", "action", "shares", "cash", "equity"]
    assert (metrics["train_bars"], metrics["test_bars"], len(curve)) == (151, 50, 50)
    assert metrics["test_start"] == bars["window_start"][151]
    assert metrics["test_end"] == bars["window_start"][200]
    assert curve["equity"].iloc[-1] == metrics["final_portfolio_value"]
    assert metrics["agent_return"] == pytest.approx(metrics["final_portfolio_value"] / 1e4 - 1)
    close = bars["close"].to_numpy()[151:]
    np.testing.assert_allclose(curve["equity"], curve["cash"] + curve["shares"] * close)
    assert set(curve["action"]) <= {-1, 0, 1}
    assert metrics["trades"] == (curve["action"] != 0).sum() > 0
    assert metrics["buy_hold_return"] == pytest.approx(close[-1] / (close[0] * 1.001) - 1)
    assert metrics["fees_paid"] > 0 and 0 <= metrics["max_drawdown"] < 1


def test_win_rate_counts_closing_fills(make_bars) -> None:
    # Win rate is computed by the env's average-cost book; check it on a scripted sequence.
    env = TradingEnv(make_bars([100.0, 100.0, 110.0, 110.0, 90.0, 90.0]), position_size=0.5)
    env.reset()
    for action in (BUY, BUY, SELL, BUY, SELL):  # buy 100, add 100, sell 110 (win), ...
        env.step(action)
    assert env.trades == 5
    assert env.closing_trades == 2
    assert env.winning_trades == 1  # the sale at 110 beat the ~100 cost; the one at 90 did not


def test_agent_learns_an_obvious_pattern(make_bars) -> None:
    for seed in range(3):
        metrics, _ = backtest_symbol(make_bars(alternating(1000, seed)), episodes=5, seed=seed)
        assert metrics["buy_hold_return"] > 0.01  # the test part starts low and ends high
        assert metrics["agent_return"] > metrics["buy_hold_return"] + 0.05
        assert metrics["agent_return"] > 0.05  # always-HOLD makes 0
        assert metrics["win_rate"] > 0.9


def _excess_significant(returns: list[float]) -> bool:
    """One-sided test at about 2.3%: is the mean excess return over always-HOLD (0) positive?"""
    values = np.asarray(returns)
    return bool(values.mean() > 2 * values.std(ddof=1) / math.sqrt(len(values)))


def test_no_edge_on_random_walks_after_fees(make_bars, random_walk) -> None:
    agent_returns, oracle_returns = [], []
    for seed in range(30):
        bars = make_bars(random_walk(100 + seed, 1000))
        metrics, _ = backtest_symbol(bars, episodes=5, seed=seed)
        agent_returns.append(metrics["agent_return"])
        # The same statistic on a policy that peeks at the next close: it must flag it, or the
        # check above it proves nothing.
        env = TradingEnv(bars, start=metrics["train_bars"])
        env.reset()
        terminated = False
        while not terminated:
            peek = env.prices[env.t + 1] > env.price
            _, _, terminated, _, _ = env.step(BUY if peek else SELL)
        oracle_returns.append(env.equity / env.initial_capital - 1)
    assert not _excess_significant(agent_returns), agent_returns
    assert _excess_significant(oracle_returns)


def test_the_test_part_never_trains_the_agent(make_bars, random_walk) -> None:
    base = random_walk(7, 400)
    later = base.copy()
    later[321:] = later[320] * np.exp(np.cumsum(np.full(79, 0.01)))  # after the first test bar
    agents = [QLearningAgent(epsilon=0.2, seed=2), QLearningAgent(epsilon=0.2, seed=2)]
    curves = [
        backtest_symbol(make_bars(closes), agent=agent, episodes=4)[1]
        for closes, agent in zip((base, later), agents, strict=True)
    ]
    np.testing.assert_array_equal(agents[0].q, agents[1].q)
    assert curves[0]["action"].iloc[0] == curves[1]["action"].iloc[0]  # first test bar equal


def test_backtest_all_shares_one_table_and_skips_short_symbols(make_bars, tmp_path) -> None:
    frames = [
        make_bars(alternating(300, 1), symbol="AAA"),
        make_bars(alternating(300, 2), symbol="BBB"),
        make_bars(alternating(10, 3), symbol="TINY"),
        make_bars(alternating(60, 4), symbol="EARLY"),  # ends before the common cutoff
    ]
    path = tmp_path / "lake" / "_models" / "q_table.json"
    metrics, equity = backtest_all(pd.concat(frames), agent=path, episodes=2, seed=3)
    by_symbol = metrics.set_index("symbol")
    assert list(by_symbol["status"]) == ["ok", "ok", "skipped", "skipped"]
    assert "only 10 bars" in by_symbol.loc["TINY", "reason"]
    assert "cutoff" in by_symbol.loc["EARLY", "reason"]
    assert by_symbol.loc["AAA", "test_start"] == by_symbol.loc["BBB", "test_start"]
    assert set(equity["symbol"]) == {"AAA", "BBB"}
    last = equity.groupby("symbol")["equity"].last()
    assert last["AAA"] == by_symbol.loc["AAA", "final_portfolio_value"]

    first = QLearningAgent.load(path)
    assert first.episodes == 2
    backtest_all({"AAA": frames[0]}, agent=str(path), episodes=1)  # the next cycle continues
    assert QLearningAgent.load(path).episodes == 3


def test_single_symbol_with_too_few_bars_is_an_error(make_bars) -> None:
    with pytest.raises(ValueError, match="only 5 bars"):
        backtest_symbol(make_bars([100.0] * 5))
