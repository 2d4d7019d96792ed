"""Tabular Q-learning over a small, symbol-agnostic discretisation of `TradingEnv` observations.

State = (last-bar move, trend, deviation, position), 3 x 3 x 5 x 3 = 135 states:

* last-bar move: the one-bar return in units of recent volatility, z1 = return_1 / volatility,
  bucketed down (z1 < -0.5), flat, up (z1 > 0.5);
* trend: the five-bar return in the same units, z5 = return_5 / (volatility x sqrt(5)),
  bucketed at ±1: a five-bar move inside one standard deviation is noise, and with 0.5 the "up"
  bucket mixed noise with trends so that no state paid for a round trip's fees (measured on the
  simulator's trend model);
* deviation: the close's distance from its 60-bar mean in one-bar volatilities, bucketed at
  ±2 and ±4: far below, below, near, above, far above. On the simulator's mean-reverting model
  a close 4 volatilities below its mean gains about 19 bp over the next 15 bars, a close 2 to 4
  below about 10 bp, one near its mean nothing; a round trip costs 20 bp in fees;
* position: short, flat or long (the sign of the position fraction).

Standardising by volatility is how volatility enters the state: the buckets mean the same thing on a
quiet and a wild symbol, and one Q-table can be shared across symbols and carried between cycles.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from financelake.rl.env import HOLD, POSITION, TREND_BARS

N_ACTIONS = 3
Z_THRESHOLD = 0.5
"""A standardised one-bar return beyond ±this is a move; inside it is flat."""
TREND_THRESHOLD = 1.0
"""A standardised five-bar return beyond ±this is a trend; inside it is flat."""
DEVIATION_EDGES = (-4.0, -2.0, 2.0, 4.0)
"""Bucket edges of the deviation feature (one-bar volatilities from the 60-bar mean)."""
POSITION_EPSILON = 1e-6
"""Position fractions within ±this count as flat (float dust after selling everything)."""
N_MARKET_CODES = 9 * (len(DEVIATION_EDGES) + 1)
N_STATES = N_MARKET_CODES * 3
_FORMAT = "financelake-q-table/3"

Transition = tuple[int, int, float, int, bool]
"""(state, action, reward, next state, terminated): one step `QLearningAgent.learn` takes."""


def _bucket(z: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.intp]:
    return (z > -threshold).astype(np.intp) + (z > threshold).astype(np.intp)


def market_codes(features: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.intp]:
    """Market part of the state (0..44) for rows of (return_1, return_5, volatility, deviation).

    Vectorised so a backtest computes it once per symbol; `QLearningAgent.state` uses the same
    function, so both paths agree by construction.
    """
    f = np.asarray(features, dtype=np.float64)
    vol = f[:, 2]
    safe = np.where(vol > 0, vol, 1.0)
    z1 = np.where(vol > 0, f[:, 0] / safe, 0.0)
    zk = np.where(vol > 0, f[:, 1] / (safe * math.sqrt(TREND_BARS)), 0.0)
    move = _bucket(z1, Z_THRESHOLD) * 3 + _bucket(zk, TREND_THRESHOLD)
    deviation = np.searchsorted(DEVIATION_EDGES, f[:, 3])
    return (move * (len(DEVIATION_EDGES) + 1) + deviation).astype(np.intp)


def state_index(market_code: int, position_fraction: float) -> int:
    """Full state from the market code and the position fraction (short 0, flat 1, long 2)."""
    position = (position_fraction > POSITION_EPSILON) - (position_fraction < -POSITION_EPSILON) + 1
    return market_code * 3 + position


class QLearningAgent:
    """Epsilon-greedy tabular Q-learning; `q` is a (135, 3) numpy array indexed [state, action].

    The learning rate of a (state, action) pair is 1 / (its visits), floored at `alpha`: the
    first visits average the rewards seen so far (a bar's reward is mostly noise, several times
    the signal), later ones keep tracking at `alpha`. With a constant 0.05 to 0.1 the estimates of
    BUY stayed so noisy that on some seeds the agent never bought in any state.

    Randomness (exploration) comes only from the agent's own generator, seeded at construction:
    the same seed on the same bars gives the same episodes and the same Q-table. Epsilon is
    multiplied by `epsilon_decay` at each `end_episode()` and is saved with the table, so
    exploration keeps shrinking across training cycles. The agent learns whatever reward it is
    given; the backtest teaches it every position and action at every bar, with rewards in
    basis points of equity so that one table is comparable across symbols and capital sizes,
    and has it explore nothing (epsilon 0).
    """

    def __init__(
        self,
        alpha: float = 0.1,
        gamma: float = 0.95,
        epsilon: float = 0.1,
        epsilon_decay: float = 0.995,
        seed: int | None = None,
    ) -> None:
        if not 0 < alpha <= 1 or not 0 <= gamma <= 1 or not 0 <= epsilon <= 1:
            raise ValueError(
                f"need 0 < alpha <= 1, 0 <= gamma <= 1, 0 <= epsilon <= 1; got {alpha}, {gamma}, "
                f"{epsilon}"
            )
        if not 0 < epsilon_decay <= 1:
            raise ValueError(f"need 0 < epsilon_decay <= 1, got {epsilon_decay}")
        self.alpha = alpha
        self.gamma = gamma
        self.epsilon = epsilon
        self.epsilon_decay = epsilon_decay
        self.episodes = 0
        self.q: npt.NDArray[np.float64] = np.zeros((N_STATES, N_ACTIONS))
        self.visits: npt.NDArray[np.float64] = np.zeros((N_STATES, N_ACTIONS))
        self.rng = np.random.default_rng(seed)

    # Policy ------------------------------------------------------------------------------------
    @staticmethod
    def state(obs: npt.NDArray[np.floating[Any]]) -> int:
        """Discretise one observation (return_1, return_5, volatility, deviation, position)."""
        code = int(market_codes(np.asarray(obs)[None, :POSITION])[0])
        return state_index(code, float(obs[POSITION]))

    def act_state(self, state: int, explore: bool = False) -> int:
        """Action for a discrete state: random with probability epsilon if exploring, else greedy.

        Greedy ties go to HOLD (an unvisited state does nothing), then to the lowest index.
        """
        if explore and self.rng.random() < self.epsilon:
            return int(self.rng.integers(N_ACTIONS))
        # Plain floats: numpy's reductions cost more than the whole step on a 3-element row.
        row: list[float] = self.q[state].tolist()
        best = max(row)
        return HOLD if row[HOLD] == best else row.index(best)

    def act(self, obs: npt.NDArray[np.floating[Any]], explore: bool = False) -> int:
        """Action index (0 SELL, 1 HOLD, 2 BUY) for an observation; greedy unless `explore`."""
        return self.act_state(self.state(obs), explore)

    # Learning ----------------------------------------------------------------------------------
    def update_state(
        self, state: int, action: int, reward: float, next_state: int, terminated: bool
    ) -> float:
        """One Q-learning step on discrete states; returns the TD error."""
        return self.learn([(state, action, reward, next_state, terminated)])

    def learn(self, transitions: Iterable[Transition]) -> float:
        """Q-learning steps, in order, on (state, action, reward, next state, terminated);
        returns the last TD error (0.0 for none).

        The steps run on Python lists, copied back into `q` and `visits` at the end: indexing a
        numpy array one element at a time cost more than the arithmetic, and a backtest takes
        millions of steps (100,000 bars x 6 fills x 10 episodes; measured in the README, *The
        models, honestly*). Python floats are IEEE doubles, so the table is the same to the bit.
        """
        q: list[list[float]] = self.q.tolist()
        visits: list[list[float]] = self.visits.tolist()
        alpha, gamma = self.alpha, self.gamma
        error = 0.0
        for state, action, reward, next_state, terminated in transitions:
            if terminated:
                target = reward
            else:  # max() of three, written out: the builtin call was a third of the time
                sell, hold, buy = q[next_state]
                best = sell if sell > hold else hold
                target = reward + gamma * (best if best > buy else buy)
            row, seen = q[state], visits[state]
            error = target - row[action]
            seen[action] += 1
            rate = 1.0 / seen[action]
            row[action] += (rate if rate > alpha else alpha) * error
        self.q = np.asarray(q, dtype=np.float64)
        self.visits = np.asarray(visits, dtype=np.float64)
        return error

    def update(
        self,
        obs: npt.NDArray[np.floating[Any]],
        action: int,
        reward: float,
        next_obs: npt.NDArray[np.floating[Any]],
        terminated: bool,
    ) -> float:
        """One Q-learning step on observations; returns the TD error."""
        return self.update_state(
            self.state(obs), int(action), reward, self.state(next_obs), terminated
        )

    def end_episode(self) -> None:
        """Count an episode and decay epsilon."""
        self.episodes += 1
        self.epsilon *= self.epsilon_decay

    # Persistence -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the Q-table and learning state to a JSON file atomically (temp file + rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "alpha": self.alpha,
            "gamma": self.gamma,
            "epsilon": self.epsilon,
            "epsilon_decay": self.epsilon_decay,
            "episodes": self.episodes,
            "q": self.q.tolist(),
            "visits": self.visits.tolist(),
        }
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, seed: int | None = None) -> QLearningAgent:
        """Read an agent written by `save`; `seed` seeds its exploration from here on."""
        payload = json.loads(Path(path).read_text())
        if payload.get("format") != _FORMAT:
            raise ValueError(
                f"{path} is not a Q-table in format {_FORMAT!r}; delete it to start learning afresh"
            )
        q = np.asarray(payload["q"], dtype=np.float64)
        if q.shape != (N_STATES, N_ACTIONS):
            raise ValueError(
                f"{path} holds a {q.shape} Q-table but this discretisation needs "
                f"{(N_STATES, N_ACTIONS)}; delete it to start learning afresh"
            )
        agent = cls(
            alpha=payload["alpha"],
            gamma=payload["gamma"],
            epsilon=payload["epsilon"],
            epsilon_decay=payload["epsilon_decay"],
            seed=seed,
        )
        agent.episodes = int(payload["episodes"])
        agent.q = q
        agent.visits = np.asarray(payload["visits"], dtype=np.float64)
        return agent
