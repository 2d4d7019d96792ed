"""Train the Q-learning trader on the earlier bars and judge it, greedily, on the later ones.

The split is in time, never random: one cutoff `window_start` such that the last `test_fraction` of
the distinct bar times are the test part. With several symbols the cutoff is common, so nothing the
shared Q-table learned comes from after the first evaluated bar of any symbol.

Metrics (test part only; see `financelake.rl.compare` for the baselines and the interval, and
`financelake.rl.metrics` for the annualised figures): agent_return = final value / initial capital
- 1; buy_hold_return, hold_return (0), random_return (the random policy, mean over seeds, same
book and fees), exposure and exposure_matched_return, excess_vs_exposure_matched with its 95%
block-bootstrap interval; sharpe, sortino, calmar on the market calendar; max_drawdown and its
duration; trades, never_traded, closing_trades and win_rate (the fraction of closing fills with a
profit against the position's average cost, fees included; NaN when nothing was closed); train_bars
and test_bars; test_start / test_end (first and last test bar times).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from financelake.rl.agent import QLearningAgent, market_codes, state_index
from financelake.rl.compare import Judgement, judge
from financelake.rl.env import BUY, HOLD, SELL, TradingEnv
from financelake.rl.metrics import Calendar
from financelake.rl.strategies import EQUITY_COLUMNS, Policy, greedy, play, random_return

log = logging.getLogger(__name__)

METRIC_COLUMNS = [
    *(field.name for field in fields(Judgement)),
    "closing_trades",
    "win_rate",
    "train_bars",
    "test_start",
    "test_end",
]
COUNT_COLUMNS = ["trades", "closing_trades", "train_bars", "test_bars"]


def _split_index(window_start: npt.NDArray[Any], cutoff: Any) -> int:
    """Number of bars strictly before the cutoff (bars are sorted by window_start)."""
    return int(np.searchsorted(window_start, cutoff, side="left"))


def _cutoff(window_starts: npt.NDArray[Any], test_fraction: float) -> Any:
    """First test bar time: the last `test_fraction` of distinct bar times (at least one)."""
    times = np.unique(window_starts)
    n_test = max(1, round(len(times) * test_fraction))
    return times[len(times) - n_test]


def _make_agent(
    agent: QLearningAgent | str | Path | None, seed: int, hyper: Mapping[str, float]
) -> QLearningAgent:
    if isinstance(agent, QLearningAgent):
        return agent
    if agent is not None and Path(agent).exists():
        loaded = QLearningAgent.load(agent, seed=seed)
        # The table carries over; the learning rates follow the settings.
        loaded.alpha, loaded.gamma = hyper["alpha"], hyper["gamma"]
        return loaded
    return QLearningAgent(seed=seed, epsilon=0.0, **hyper)


Fill = tuple[int, int, float, float, int]
"""(position before, action, fraction invested after the fill, fee in bp of equity, position
after), positions numbered as `state_index` numbers them."""


def _fills(book: Mapping[str, Any]) -> list[Fill]:
    """What every action does from every position the Q-table tells apart (flat, one
    `position_size` long, one short when shorting is allowed), by the env's own fill rules.

    The table knows a position's sign, not its size, so it learns one unit: a fill that would
    add a second unit (possible when `position_size` < 1) is priced as keeping the first, fee
    included. Pricing the second unit's gain under the first unit's state taught the table that
    adding was free exposure (on a 99/101 zig-zag it held instead of selling at the top)."""
    env = TradingEnv(pd.DataFrame({"close": [1.0, 1.0]}), **book)
    unit = env.position_size
    fills = []
    for fraction in [0.0, unit] + ([-unit] if env.allow_short else []):
        for action in (SELL, HOLD, BUY):
            invested, fee = env.fill_outcome(fraction, action)
            invested = max(-unit, min(unit, invested))
            fills.append(
                (state_index(0, fraction), action, invested, fee * 1e4, state_index(0, invested))
            )
    return fills


def _learn_every_position(
    agent: QLearningAgent,
    prices: npt.NDArray[np.float64],
    codes: npt.NDArray[np.intp],
    fills: list[Fill],
) -> None:
    """One pass over a symbol's training bars that learns every (position, action) pair at every
    bar, not only the one the agent was in (full-information Q-learning).

    A fill moves the book, never the market, so each bar's return prices every action from every
    position exactly: reward = fraction invested after the fill x the bar's return - the fee, in
    bp of equity. Learning along one explored path left the long states with few visits: on the
    mean-reverting model the agent never traded (README, *The models, honestly*). No
    exploration is needed, and the same bars give the same table.
    """
    returns: list[float] = (np.diff(prices) / prices[:-1] * 1e4).tolist()
    market: list[int] = (codes * 3).tolist()
    last = len(returns) - 1
    steps = enumerate(zip(returns, market[:-1], market[1:], strict=True))
    agent.learn(
        (here + before, action, invested * bar_return - fee_bp, there + after, t == last)
        for t, (bar_return, here, there) in steps
        for before, action, invested, fee_bp, after in fills
    )


def evaluate_policy(
    frame: pd.DataFrame,
    start: int,
    policy: Callable[[TradingEnv], Policy],
    book: Mapping[str, Any],
    bar_seconds: float,
    calendar: Calendar,
    seed: int,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Play `policy(env)` on `frame` from bar `start`, no learning; the `METRIC_COLUMNS` beside
    the baselines (the random policy on the same bars and book), and the book at each bar."""
    env = TradingEnv(frame, **book, start=start)
    path, curve = play(env, policy(env))
    judged = judge(
        path,
        fee_rate=env.fee_rate,
        random_return=random_return(frame, start, dict(book), seed=seed),
        bar_seconds=bar_seconds,
        calendar=calendar,
        seed=seed,
    )
    return metrics_row(env, judged), curve


def metrics_row(env: TradingEnv, judged: Judgement) -> dict[str, Any]:
    """The `METRIC_COLUMNS` of a strategy played on `env` from its `start` bar."""
    return {
        **asdict(judged),
        "closing_trades": env.closing_trades,
        "win_rate": env.winning_trades / env.closing_trades if env.closing_trades else math.nan,
        "train_bars": env.start,
        "test_start": env.window_start[env.start],
        "test_end": env.window_start[-1],
    }


def _by_symbol(bars: Mapping[str, pd.DataFrame] | pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each symbol's bars sorted by window_start."""
    if isinstance(bars, pd.DataFrame):
        if "symbol" not in bars.columns:
            raise ValueError("one DataFrame of bars needs a 'symbol' column; or pass a dict")
        bars = {str(name): group for name, group in bars.groupby("symbol", sort=True)}
    out = {}
    for symbol, frame in bars.items():
        if "window_start" not in frame.columns or "close" not in frame.columns:
            raise ValueError(f"bars of {symbol!r} need 'window_start' and 'close' columns")
        out[symbol] = frame.sort_values("window_start", kind="stable", ignore_index=True)
    return out


def backtest_all(
    bars: Mapping[str, pd.DataFrame] | pd.DataFrame,
    *,
    initial_capital: float = 10_000.0,
    position_size: float = 0.1,
    fee_rate: float = 0.001,
    allow_short: bool = False,
    agent: QLearningAgent | str | Path | None = None,
    alpha: float = 0.1,
    gamma: float = 0.99,
    episodes: int = 5,
    seed: int = 7,
    test_fraction: float = 0.2,
    bar_seconds: float = 60.0,
    min_bars: int = 30,
    min_test_bars: int = 2,
    calendar: Calendar = Calendar.ALWAYS_OPEN,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Learn one shared Q-table on every symbol's training bars, then evaluate each symbol.

    `bars` is a dict symbol -> bars or one DataFrame with a `symbol` column; bars need
    `window_start` and `close`. All symbols share one time cutoff (see the module docstring), so
    the table never learns from a bar later than any symbol's first test bar. Training runs
    `episodes` rounds, each a pass over every symbol's training part that learns every position
    and action at every bar (`_learn_every_position`); evaluation is greedy, without learning, on
    each symbol's test part with the final table.

    `agent` is an existing agent (learning continues in it), a path to a Q-table JSON file (loaded
    if it exists, the learned table saved back atomically; alpha and gamma follow the arguments),
    or None (a fresh agent). `seed` seeds the random baseline.

    Returns (metrics: one row per symbol with `status` 'ok' or 'skipped' and a `reason`,
    equity: `symbol` + the curve columns of `backtest_symbol`). A symbol with fewer than
    `min_bars` bars or fewer than `min_test_bars` (at least 2) bars from the cutoff on is skipped,
    not an error: a handful of test bars decides nothing (see `financelake.rl.compare`).
    """
    if episodes < 0 or not 0 < test_fraction < 1 or bar_seconds <= 0:
        raise ValueError(
            f"need episodes >= 0, 0 < test_fraction < 1, bar_seconds > 0; got {episodes}, "
            f"{test_fraction}, {bar_seconds}"
        )
    book: dict[str, Any] = {
        "initial_capital": initial_capital,
        "position_size": position_size,
        "fee_rate": fee_rate,
        "allow_short": allow_short,
    }
    frames = _by_symbol(bars)
    times = [frame["window_start"].to_numpy() for frame in frames.values()]
    cutoff = _cutoff(np.concatenate(times), test_fraction) if times else None

    splits: dict[str, int] = {}
    skipped: dict[str, str] = {}
    trainers: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]] = []
    for symbol, frame in frames.items():
        n_train = _split_index(frame["window_start"].to_numpy(), cutoff)
        n_test = len(frame) - n_train
        if len(frame) < min_bars:
            skipped[symbol] = f"only {len(frame)} bars, need at least {min_bars}"
        elif n_test < max(2, min_test_bars):
            skipped[symbol] = (
                f"{n_test} bar(s) from the train/test cutoff {cutoff} on, "
                f"need {max(2, min_test_bars)}"
            )
        else:
            splits[symbol] = n_train
            if n_train >= 2:
                env = TradingEnv(frame.iloc[:n_train], **book)
                trainers.append((env.prices, market_codes(env.features)))
    for symbol, reason in skipped.items():
        log.info("RL backtest skips %s: %s", symbol, reason)

    learner = _make_agent(agent, seed, {"alpha": alpha, "gamma": gamma})
    fills = _fills(book)
    for _ in range(episodes if trainers else 0):
        for prices, codes in trainers:
            _learn_every_position(learner, prices, codes, fills)
        learner.end_episode()
    if isinstance(agent, str | Path):
        learner.save(agent)

    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    for symbol, frame in frames.items():
        if symbol in skipped:
            rows.append({"symbol": symbol, "status": "skipped", "reason": skipped[symbol]})
            continue
        result, curve = evaluate_policy(
            frame,
            splits[symbol],
            lambda env: greedy(learner, env),
            book,
            bar_seconds,
            calendar,
            seed,
        )
        rows.append({"symbol": symbol, "status": "ok", "reason": None, **result})
        curves.append(curve.assign(symbol=symbol)[["symbol", *EQUITY_COLUMNS]])
    log.info(
        "RL backtest: %d symbols evaluated, %d skipped, %d training steps x %d episodes",
        len(splits),
        len(skipped),
        sum(len(prices) - 1 for prices, _ in trainers),
        episodes,
    )
    equity = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["symbol", *EQUITY_COLUMNS])
    )
    metrics = pd.DataFrame(rows, columns=["symbol", "status", "reason", *METRIC_COLUMNS])
    # Stable dtypes whatever was skipped, so appending to a table never changes its schema.
    metrics = metrics.astype({column: "Int64" for column in COUNT_COLUMNS})
    metrics["never_traded"] = metrics["never_traded"].astype("boolean")
    for column in ("test_start", "test_end"):
        metrics[column] = pd.to_datetime(metrics[column])
    return metrics, equity


def backtest_symbol(bars: pd.DataFrame, **options: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    """Backtest one symbol: learn on its earlier bars, evaluate greedily on the later ones.

    `options` are `backtest_all`'s keywords. Returns (metrics, equity curve with columns
    window_start, action (-1/0/1: what was actually traded at that bar), shares and cash after the
    bar's fill, equity = cash + shares x close); the curve's last equity is
    `final_portfolio_value`. Raises ValueError when the bars are too few to split and evaluate.
    """
    metrics, equity = backtest_all({"": bars}, **options)
    row = {str(key): value for key, value in metrics.to_dict("records")[0].items()}
    if row.pop("status") != "ok":
        raise ValueError(f"cannot backtest these bars: {row['reason']}")
    del row["symbol"], row["reason"]
    return row, equity.drop(columns="symbol")
