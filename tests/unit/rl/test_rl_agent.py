"""QLearningAgent: discretisation, the update rule, determinism, persistence, no look-ahead."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from financelake.rl import BUY, HOLD, SELL, QLearningAgent, TradingEnv
from financelake.rl.agent import N_STATES, market_codes, state_index


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        # (return_1, return_5, volatility, deviation, position): code = move x 5 + deviation
        ((0.0, 0.0, 0.0, 0.0, 0.0), (22, 1)),  # no history: flat move and trend, near the mean
        ((-0.02, -0.05, 0.01, 0.0, 0.0), (2, 1)),  # z1 = -2, z5 = -2.2: down, down
        ((0.02, 0.001, 0.01, 0.0, 0.3), (37, 2)),  # up, flat trend, long
        ((0.004, 0.05, 0.01, 0.0, -0.2), (27, 0)),  # flat move (z1 = 0.4), up trend, short
        ((0.0, 0.0, 0.01, -4.5, 0.0), (20, 1)),  # far below the mean
        ((0.0, 0.0, 0.01, -3.0, 0.0), (21, 1)),  # below
        ((0.0, 0.0, 0.01, 2.5, 0.0), (23, 1)),  # above
        ((0.0, 0.0, 0.01, 9.0, 1.0), (24, 2)),  # far above, long
    ],
)
def test_state_discretisation(obs: tuple[float, ...], expected: tuple[int, int]) -> None:
    code, position = expected
    assert QLearningAgent.state(np.array(obs, dtype=np.float32)) == code * 3 + position


def test_vectorised_and_scalar_states_agree() -> None:
    rng = np.random.default_rng(0)
    obs = np.column_stack(
        [
            rng.normal(0, 0.01, 500),
            rng.normal(0, 0.02, 500),
            rng.uniform(0, 0.02, 500),
            rng.normal(0, 4, 500),
        ]
    )
    obs[::7, 2] = 0.0  # no volatility yet: states must still be defined
    positions = rng.choice([-0.5, 0.0, 1e-9, 0.4], 500)
    full = np.column_stack([obs, positions]).astype(np.float32)
    codes = market_codes(full[:, :4])
    scalar = [QLearningAgent.state(row) for row in full]
    assert scalar == [state_index(int(c), float(p)) for c, p in zip(codes, full[:, 4], strict=True)]
    assert set(scalar) <= set(range(N_STATES))


def test_update_rule_by_hand() -> None:
    agent = QLearningAgent(alpha=0.5, gamma=0.9, epsilon=0.0)
    agent.q[3] = [1.0, 2.0, 4.0]
    error = agent.update_state(0, BUY, reward=1.0, next_state=3, terminated=False)
    assert error == pytest.approx(1.0 + 0.9 * 4.0)
    assert agent.q[0, BUY] == pytest.approx(4.6)  # first visit: rate 1, the sample itself
    agent.update_state(0, BUY, reward=0.0, next_state=3, terminated=True)  # no bootstrap
    assert agent.q[0, BUY] == pytest.approx(4.6 / 2)  # second visit: the mean of the two
    agent.update_state(0, BUY, reward=0.0, next_state=3, terminated=True)
    assert agent.q[0, BUY] == pytest.approx(2.3 - 0.5 * 2.3)  # 1/3 < alpha: the floor rules
    assert agent.visits[0, BUY] == 3


def test_greedy_prefers_hold_on_ties_and_explores_with_its_own_generator() -> None:
    agent = QLearningAgent(epsilon=1.0, seed=3)
    assert agent.act_state(0) == HOLD  # untrained: do nothing
    agent.q[0] = [5.0, 1.0, 5.0]
    assert agent.act_state(0) == SELL
    draws = [agent.act_state(0, explore=True) for _ in range(300)]
    again = QLearningAgent(epsilon=1.0, seed=3)
    assert draws == [again.act_state(0, explore=True) for _ in range(300)]
    assert set(draws) == {SELL, HOLD, BUY}
    agent.end_episode()
    assert agent.epsilon == pytest.approx(0.995) and agent.episodes == 1


def _learn_one_episode(env: TradingEnv, agent: QLearningAgent) -> list[int]:
    obs, _ = env.reset(seed=0)
    actions, terminated = [], False
    while not terminated:
        action = agent.act(obs, explore=True)
        next_obs, reward, terminated, _, _ = env.step(action)
        agent.update(obs, action, reward / 100, next_obs, terminated)
        actions.append(action)
        obs = next_obs
    return actions


def test_same_seed_same_episode_and_q_table(make_bars, random_walk) -> None:
    bars = make_bars(random_walk(0, 300))
    runs = []
    for _ in range(2):
        agent = QLearningAgent(epsilon=0.3, seed=11)
        actions = [_learn_one_episode(TradingEnv(bars), agent) for _ in range(3)]
        runs.append((actions, agent.q.copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert np.any(runs[0][1] != 0)


def test_learning_actions_do_not_depend_on_later_bars(make_bars, random_walk) -> None:
    base = random_walk(1, 300)
    t = 150
    other = base.copy()
    other[t + 1 :] = other[t] * np.exp(np.cumsum(np.full(300 - t - 1, 0.02)))  # a rally after t
    first = _learn_one_episode(TradingEnv(make_bars(base)), QLearningAgent(epsilon=0.3, seed=5))
    second = _learn_one_episode(TradingEnv(make_bars(other)), QLearningAgent(epsilon=0.3, seed=5))
    assert first[: t + 1] == second[: t + 1]  # decisions at bars 0..t
    assert first != second  # ...and the test could tell if later bars mattered


def test_save_and_load_round_trip(tmp_path) -> None:
    agent = QLearningAgent(alpha=0.2, epsilon=0.05, seed=1)
    agent.q[:] = np.random.default_rng(0).normal(size=agent.q.shape)
    agent.end_episode()
    path = tmp_path / "models" / "q_table.json"
    agent.save(path)
    agent.save(path)  # overwriting is fine, and leaves no temporary files behind
    assert [p.name for p in path.parent.iterdir()] == ["q_table.json"]
    loaded = QLearningAgent.load(str(path), seed=1)
    np.testing.assert_array_equal(loaded.q, agent.q)
    assert (loaded.alpha, loaded.epsilon, loaded.episodes) == (0.2, agent.epsilon, 1)
    assert math.isclose(loaded.epsilon, 0.05 * 0.995)


def test_load_rejects_a_foreign_table(tmp_path) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="delete it"):
        QLearningAgent.load(path)
    agent = QLearningAgent()
    agent.save(path)
    payload = json.loads(path.read_text())
    payload["q"] = [[0.0, 0.0, 0.0]]
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="discretisation"):
        QLearningAgent.load(path)
