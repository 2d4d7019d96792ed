"""Strategies played through the same book (`TradingEnv`): the greedy agent, a traded signal, and
the random policy, so every one pays the same fees under the same position rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from financelake.rl.agent import QLearningAgent, market_codes, state_index
from financelake.rl.compare import BookPath
from financelake.rl.env import BUY, POSITION, SELL, TradingEnv

Policy = Callable[[int, npt.NDArray[np.float32]], int]
"""Chooses an action from the bar index and the observation."""

EQUITY_COLUMNS = ["window_start", "action", "shares", "cash", "equity"]
RANDOM_SEEDS = 10
"""Random-policy runs averaged into `random_return`."""


def play(env: TradingEnv, policy: Policy) -> tuple[BookPath, pd.DataFrame]:
    """One pass over the env's episode with `policy`, no learning.

    Returns the path (equity before each decision, exposure over each step) and the book after
    each bar's fill (columns `EQUITY_COLUMNS`; the last row is the book carried into the last bar,
    its equity the final value).
    """
    closes = env.prices
    obs, _ = env.reset()
    times, actions, shares, cash, marked = [], [], [], [], []
    before = [env.equity]
    exposure: list[float] = []
    terminated = False
    while not terminated:
        t = env.t
        obs, _, terminated, _, info = env.step(policy(t, obs))
        held = env.shares * closes[t]
        book = env.cash + held
        times.append(env.window_start[t])
        actions.append(info["executed"])
        shares.append(env.shares)
        cash.append(env.cash)
        marked.append(book)
        exposure.append(held / book if book > 0 else 0.0)
        before.append(env.equity)
    times.append(env.window_start[env.t])
    actions.append(0)
    shares.append(env.shares)
    cash.append(env.cash)
    marked.append(env.equity)
    path = BookPath(
        times=np.asarray(env.window_start[env.start :]),
        closes=np.asarray(closes[env.start :], dtype=np.float64),
        equity=np.asarray(before, dtype=np.float64),
        exposure=np.asarray(exposure, dtype=np.float64),
        trades=env.trades,
        fees_paid=env.fees_paid,
    )
    curve = pd.DataFrame(
        {"window_start": times, "action": actions, "shares": shares, "cash": cash, "equity": marked}
    )
    return path, curve


def greedy(agent: QLearningAgent, env: TradingEnv) -> Policy:
    """The agent's greedy policy on this env's bars."""
    codes: list[int] = market_codes(env.features).tolist()

    def choose(t: int, obs: npt.NDArray[np.float32]) -> int:
        return agent.act_state(state_index(codes[t], float(obs[POSITION])))

    return choose


def signal(long: npt.NDArray[np.bool_]) -> Policy:
    """Buy while `long[t]` holds, sell otherwise (long or flat; bar t's signal, bar t's close)."""
    wanted: list[bool] = np.asarray(long, dtype=bool).tolist()

    def choose(t: int, obs: npt.NDArray[np.float32]) -> int:
        return BUY if wanted[t] else SELL

    return choose


def random_policy(seed: int) -> Policy:
    """Uniformly random SELL / HOLD / BUY at every bar."""
    rng = np.random.default_rng(seed)

    def choose(t: int, obs: npt.NDArray[np.float32]) -> int:
        return int(rng.integers(3))

    return choose


def random_return(
    bars: pd.DataFrame, start: int, book: dict[str, Any], seeds: int = RANDOM_SEEDS, seed: int = 0
) -> float:
    """Mean total return of the random policy over `seeds` runs on the same bars and book."""
    returns = []
    for k in range(seeds):
        path, _ = play(TradingEnv(bars, **book, start=start), random_policy(seed + k))
        returns.append(path.total_return)
    return float(np.mean(returns))
