"""The reinforcement-learning trader: a Gymnasium environment, a Q-learning agent, a backtest.

Importing this package registers the environment as `financelake/Trading-v0`, so
`gymnasium.make("financelake/Trading-v0", bars=...)` works.
"""

from gymnasium.envs.registration import register, registry

from financelake.rl.agent import QLearningAgent
from financelake.rl.backtest import backtest_all, backtest_symbol
from financelake.rl.env import BUY, HOLD, SELL, TradingEnv
from financelake.rl.metrics import Calendar, max_drawdown, sharpe_ratio

ENV_ID = "financelake/Trading-v0"

if ENV_ID not in registry:  # importing twice (or reloading) must not warn about re-registration
    register(id=ENV_ID, entry_point="financelake.rl.env:TradingEnv")

__all__ = [
    "BUY",
    "ENV_ID",
    "HOLD",
    "SELL",
    "Calendar",
    "QLearningAgent",
    "TradingEnv",
    "backtest_all",
    "backtest_symbol",
    "max_drawdown",
    "sharpe_ratio",
]
