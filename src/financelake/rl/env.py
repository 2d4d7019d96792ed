"""A single-symbol trading environment with the Gymnasium API.

The environment only simulates the market and the book (cash, shares, fees); the policy lives in
`financelake.rl.agent`. Bars are replayed in time order: the action chosen at bar t fills at bar t's
close and its reward is the change in equity up to bar t+1's close, net of the fill's fee.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import pandas as pd
from gymnasium import spaces

SELL, HOLD, BUY = 0, 1, 2
"""Action indices; the classic -1/0/1 signal is `index - 1`."""

TREND_BARS = 5
"""Look-back of the trend feature (return over this many bars)."""
VOLATILITY_BARS = 10
"""Window of the volatility feature (std of one-bar returns)."""
MEAN_BARS = 60
"""Window of the mean the deviation feature measures from (mean of log closes)."""
DEVIATION_BOUND = 50.0
"""The deviation feature is clipped to ±this (in one-bar volatilities)."""

FEATURES = ("return_1", f"return_{TREND_BARS}", "volatility", "deviation", "position")
"""Names of the observation's components, in order."""
POSITION = FEATURES.index("position")
"""Where the observation holds the position fraction (the market features come before it)."""

Observation = npt.NDArray[np.float32]


def market_features(close: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """The market part of the observation for every bar, shape (n, 4), from closes up to each bar.

    Columns: last-bar return, return over `TREND_BARS` bars, the std of the last
    `VOLATILITY_BARS` one-bar returns (volatility relative to price), and the deviation: how far
    the log close lies from its mean over the last `MEAN_BARS` bars, in those volatilities (what a
    mean-reverting market pays for; 0 while volatility is 0). Early bars use the history they have
    (the first bar's returns are 0). Only past closes enter row t, so precomputing the whole
    array is not look-ahead; values are clipped to the observation space's bounds.
    """
    n = len(close)
    r1 = np.zeros(n)
    r1[1:] = close[1:] / close[:-1] - 1.0
    lagged = close[np.maximum(np.arange(n) - TREND_BARS, 0)]
    rk = close / lagged - 1.0
    vol = pd.Series(r1).rolling(VOLATILITY_BARS, min_periods=1).std(ddof=0).to_numpy()
    log_close = np.log(close)
    mean = pd.Series(log_close).rolling(MEAN_BARS, min_periods=1).mean().to_numpy()
    deviation = np.divide(log_close - mean, vol, out=np.zeros(n), where=vol > 0)
    out = np.column_stack(
        [
            np.clip(r1, -1, 1),
            np.clip(rk, -1, 1),
            np.clip(vol, 0, 1),
            np.clip(deviation, -DEVIATION_BOUND, DEVIATION_BOUND),
        ]
    )
    return out.astype(np.float32)


class TradingEnv(gym.Env[Observation, int]):
    """Trade one symbol's bars with cash-and-shares accounting.

    Actions (`Discrete(3)`): 0 = SELL, 1 = HOLD, 2 = BUY.

    * BUY spends `position_size` x equity (plus `fee_rate` of that notional) on shares at the
      bar's close, capped so notional + fee never exceeds the cash held: no leverage, cash >= 0.
    * SELL sells shares worth up to `position_size` x equity and receives the notional minus the
      fee. Without `allow_short` it never takes shares below 0. With `allow_short` it may go short
      as long as the short exposure after the fill (|shares| x close) is at most the equity
      before it.
    * HOLD does nothing. Shares are fractional (a simulation of a notional, not an order book).

    Equity = cash + shares x close. The observation at bar t (`FEATURES`) uses bars up to t only,
    plus the position as a fraction of equity (negative when short). The episode terminates on the
    last bar, after `len(bars) - 1 - start` steps. The environment is deterministic: `reset(seed=)`
    seeds `np_random` only for API compliance.

    `start` lets an episode begin later in the series while the earlier bars still serve as history
    for the features; the backtest uses it to evaluate on the test part without a cold start.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - Gymnasium's convention

    def __init__(
        self,
        bars: pd.DataFrame,
        initial_capital: float = 10_000.0,
        position_size: float = 0.1,
        fee_rate: float = 0.001,
        allow_short: bool = False,
        start: int = 0,
    ) -> None:
        if "close" not in bars.columns:
            raise ValueError("bars need a 'close' column (Gold bars of one symbol)")
        if "window_start" in bars.columns and not bars["window_start"].is_monotonic_increasing:
            # Out-of-order bars would leak the future into the features: sort, never trust.
            bars = bars.sort_values("window_start", kind="stable")
        close = bars["close"].to_numpy(dtype=np.float64)
        if len(close) < start + 2:
            raise ValueError(
                f"need at least {start + 2} bars to step from bar {start}, got {len(close)}"
            )
        if not np.all(np.isfinite(close)) or np.any(close <= 0):
            raise ValueError("every close must be a positive finite price; clean the bars first")
        if initial_capital <= 0 or not 0 < position_size <= 1 or not 0 <= fee_rate < 1:
            raise ValueError(
                "need initial_capital > 0, 0 < position_size <= 1 and 0 <= fee_rate < 1, got "
                f"{initial_capital}, {position_size}, {fee_rate}"
            )
        self.initial_capital = float(initial_capital)
        self.position_size = float(position_size)
        self.fee_rate = float(fee_rate)
        self.allow_short = allow_short
        self.start = start
        self.prices = close
        self.window_start: npt.NDArray[Any] = (
            bars["window_start"].to_numpy()
            if "window_start" in bars.columns
            else np.arange(len(close))
        )
        self.features = market_features(close)
        # Python floats: the step loop indexes these hundreds of thousands of times per cycle.
        self._prices: list[float] = close.tolist()
        self._last = len(close) - 1

        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(
            low=np.array([-1, -1, 0, -DEVIATION_BOUND, -1], dtype=np.float32),
            high=np.array([1, 1, 1, DEVIATION_BOUND, 1], dtype=np.float32),
            dtype=np.float32,
        )
        self._reset_book()

    # Book keeping ------------------------------------------------------------------------------
    def _reset_book(self) -> None:
        self.t = self.start
        self.cash = self.initial_capital
        self.shares = 0.0
        self.fees_paid = 0.0
        self.trades = 0
        self.closing_trades = 0
        self.winning_trades = 0
        self._basis = 0.0  # what the open position cost, fees included (negative when short)

    @property
    def price(self) -> float:
        """Close of the current bar."""
        return self._prices[self.t]

    @property
    def equity(self) -> float:
        """Cash plus the shares marked at the current bar's close."""
        return self.cash + self.shares * self._prices[self.t]

    def _position_fraction(self) -> float:
        equity = self.equity
        if equity <= 0:
            return -1.0 if self.shares < 0 else 0.0
        return min(1.0, max(-1.0, self.shares * self._prices[self.t] / equity))

    def _fill(self, action: int, price: float, equity: float) -> int:
        """Execute `action` at `price`; return the signed direction actually traded (-1, 0, 1)."""
        if action == HOLD or equity <= 0:
            return 0
        notional = self.position_size * equity
        if action == BUY:
            qty = min(notional, self.cash / (1.0 + self.fee_rate)) / price
        else:
            sellable = self.shares + (equity / price if self.allow_short else 0.0)
            qty = -min(notional / price, sellable)
        if qty == 0 or (qty > 0) != (action == BUY):
            return 0
        fee = abs(qty) * price * self.fee_rate
        self._record_pnl(qty, price, fee)
        self.cash -= qty * price + fee
        # Capping at cash / (1 + fee) can round a hair below zero; the cap means zero.
        if self.cash < 0 and self.cash > -1e-9 * self.initial_capital:
            self.cash = 0.0
        self.shares += qty
        self.fees_paid += fee
        self.trades += 1
        return 1 if qty > 0 else -1

    def fill_outcome(self, fraction: float, action: int) -> tuple[float, float]:
        """For a book holding `fraction` of its equity in shares (negative: short) at this bar,
        the fraction held after `action` fills and the fee, both per unit of equity. This book is
        untouched (a copy fills): it prices the actions an agent did not take (see rl.backtest)."""
        book = copy.copy(self)
        price, equity = self.price, self.initial_capital
        book.shares = fraction * equity / price
        book.cash, book.fees_paid = equity - book.shares * price, 0.0
        book._fill(action, price, equity)
        return book.shares * price / equity, book.fees_paid / equity

    def _record_pnl(self, qty: float, price: float, fee: float) -> None:
        """Average-cost book: a fill against the open position closes part of it; count wins."""
        held = self.shares
        if held == 0 or (qty > 0) == (held > 0):
            self._basis += qty * price + fee
            return
        closed = min(abs(qty), abs(held))
        basis_part = self._basis * closed / abs(held)
        fee_part = fee * closed / abs(qty)
        pnl = math.copysign(closed, held) * price - fee_part - basis_part
        self.closing_trades += 1
        self.winning_trades += pnl > 0
        self._basis -= basis_part
        opened = abs(qty) - closed  # a short sale larger than the long position flips it
        if opened > 0:
            self._basis += math.copysign(opened, qty) * price + fee - fee_part
        if held + qty == 0:
            self._basis = 0.0

    # Gymnasium API -----------------------------------------------------------------------------
    def _obs(self) -> Observation:
        f = self.features[self.t]
        return np.array((*f, self._position_fraction()), dtype=np.float32)

    def _info(self, executed: int = 0) -> dict[str, Any]:
        return {
            "t": self.t,
            "cash": self.cash,
            "shares": self.shares,
            "equity": self.equity,
            "fees_paid": self.fees_paid,
            "trades": self.trades,
            "executed": executed,
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start again at bar `start` with the initial capital in cash and no shares."""
        super().reset(seed=seed)
        self._reset_book()
        return self._obs(), self._info()

    def step(self, action: int) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Fill `action` at this bar's close, move to the next bar, reward the change in equity."""
        if self.t >= self._last:
            raise RuntimeError("the episode has ended (last bar reached); call reset()")
        action = int(action)
        if not SELL <= action <= BUY:
            raise ValueError(f"action must be 0 (SELL), 1 (HOLD) or 2 (BUY), got {action}")
        price = self._prices[self.t]
        before = self.cash + self.shares * price
        executed = self._fill(action, price, before)
        self.t += 1
        reward = self.cash + self.shares * self._prices[self.t] - before
        return self._obs(), reward, self.t == self._last, False, self._info(executed)
