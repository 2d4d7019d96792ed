"""TradingEnv: the Gymnasium contract, the book keeping, and no look-ahead."""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import financelake.rl
from financelake.rl import BUY, ENV_ID, HOLD, SELL, TradingEnv
from financelake.rl.env import POSITION, market_features


def test_passes_gymnasium_env_checker(make_bars, random_walk) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings
        # Made through the registry so the checker has a spec and checks render modes too.
        env = gym.make(ENV_ID, bars=make_bars(random_walk(0, 60)))
        check_env(env.unwrapped)


def test_registered_once_and_makeable(make_bars) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(financelake.rl)  # registering again must be a no-op, not a warning
    env = gym.make(ENV_ID, bars=make_bars([100.0, 101.0, 102.0]), fee_rate=0.0)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    assert isinstance(env.unwrapped, TradingEnv)


def _rollout(env: TradingEnv, actions: list[int]) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=3)
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, _, _ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        if terminated:
            break
    return observations, rewards


def test_same_seed_same_episode(make_bars, random_walk) -> None:
    bars = make_bars(random_walk(1, 80))
    actions = np.random.default_rng(5).integers(0, 3, 79).tolist()
    first = _rollout(TradingEnv(bars), actions)
    second = _rollout(TradingEnv(bars), actions)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], second[0], strict=True))
    assert first[1] == second[1]


def test_buy_then_sell_at_unchanged_price_loses_exactly_the_two_fees(make_bars) -> None:
    env = TradingEnv(make_bars([100.0] * 4), initial_capital=10_000, position_size=0.1)
    env.reset()
    _, r1, *_ = env.step(BUY)  # 1,000 notional: fee 1.00
    _, r2, *_ = env.step(SELL)  # 10% of equity 9,999 = 999.90 notional: fee 0.9999
    assert env.fees_paid == pytest.approx(1.0 + 0.9999, abs=1e-12)
    assert r1 == pytest.approx(-1.0, abs=1e-9)
    assert r2 == pytest.approx(-0.9999, abs=1e-9)
    assert env.equity == pytest.approx(10_000 - 1.0 - 0.9999, abs=1e-9)
    assert env.trades == 2


def test_reward_is_next_close_change_net_of_fee(make_bars) -> None:
    env = TradingEnv(make_bars([100.0, 110.0, 99.0]), initial_capital=1_000, position_size=0.5)
    env.reset()
    _, reward, terminated, _, info = env.step(BUY)  # 500 notional at 100: 5 shares, fee 0.5
    assert reward == pytest.approx(5 * (110 - 100) - 0.5)
    assert info["shares"] == pytest.approx(5.0)
    assert info["cash"] == pytest.approx(1_000 - 500 - 0.5)
    assert not terminated
    _, reward, terminated, _, _ = env.step(HOLD)
    assert reward == pytest.approx(5 * (99 - 110))
    assert terminated
    with pytest.raises(RuntimeError, match="reset"):
        env.step(HOLD)
    env.reset()
    with pytest.raises(ValueError, match="action must be"):
        env.step(3)


def test_rewards_sum_to_the_change_in_equity(make_bars, random_walk) -> None:
    env = TradingEnv(make_bars(random_walk(2, 200)))
    actions = np.random.default_rng(2).integers(0, 3, 199).tolist()
    _, rewards = _rollout(env, actions)
    assert len(rewards) == 199
    assert sum(rewards) == pytest.approx(env.equity - env.initial_capital, abs=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_random_trading_never_overdraws_or_shorts(make_bars, random_walk, seed: int) -> None:
    rng = np.random.default_rng(seed)
    env = TradingEnv(make_bars(random_walk(seed, 150)), position_size=float(rng.uniform(0.05, 1)))
    env.reset(seed=seed)
    # Bias towards BUY so the cash cap is reached, then towards SELL so shares hit zero.
    for p_buy in (0.8, 0.2):
        for _ in range(70):
            action = BUY if rng.random() < p_buy else int(rng.choice([SELL, HOLD]))
            _, _, terminated, _, info = env.step(action)
            assert env.cash >= 0
            assert env.shares >= 0
            assert info["equity"] == pytest.approx(env.cash + env.shares * env.price)
            assert terminated == (env.t == 149)
    assert env.fees_paid > 0


@pytest.mark.parametrize("seed", range(10))
def test_short_exposure_is_at_most_equity(make_bars, random_walk, seed: int) -> None:
    rng = np.random.default_rng(seed)
    env = TradingEnv(make_bars(random_walk(seed, 120)), position_size=0.5, allow_short=True)
    env.reset()
    terminated, went_short = False, False
    while not terminated:
        price, equity = env.price, env.equity
        action = SELL if rng.random() < 0.7 else BUY
        _, _, terminated, _, info = env.step(action)
        if info["executed"] == -1:  # a price rise may stretch a short later; a SELL may not
            assert env.shares * price >= -equity * (1 + 1e-12)
        assert env.cash >= 0
        went_short |= env.shares < 0
    assert went_short


def test_observation_uses_only_past_bars(make_bars, random_walk) -> None:
    base = random_walk(4, 100)
    t = 60
    other = base.copy()
    other[t + 1 :] *= np.exp(np.random.default_rng(9).normal(0, 0.05, 100 - t - 1))
    np.testing.assert_array_equal(market_features(base)[: t + 1], market_features(other)[: t + 1])
    assert not np.array_equal(market_features(base)[t + 1], market_features(other)[t + 1])

    actions = np.random.default_rng(4).integers(0, 3, t).tolist()
    obs_a, rewards_a = _rollout(TradingEnv(make_bars(base)), actions)
    obs_b, rewards_b = _rollout(TradingEnv(make_bars(other)), actions)
    for a, b in zip(obs_a, obs_b, strict=True):  # observations at bars 0..t
        np.testing.assert_array_equal(a, b)
    assert rewards_a[:-1] == rewards_b[:-1]  # the reward of step t needs bar t+1, which differs


def test_bars_out_of_order_are_sorted(make_bars) -> None:
    bars = make_bars([100.0, 101.0, 102.0, 103.0])
    env = TradingEnv(bars.iloc[::-1])
    assert env.prices.tolist() == [100.0, 101.0, 102.0, 103.0]


def test_start_keeps_history_for_features(make_bars, random_walk) -> None:
    bars = make_bars(random_walk(6, 50))
    env = TradingEnv(bars, start=30)
    obs, info = env.reset()
    assert info["t"] == 30
    np.testing.assert_array_equal(obs[:POSITION], TradingEnv(bars).features[30])


@pytest.mark.parametrize(
    ("close", "message"),
    [([100.0], "at least 2 bars"), ([100.0, -1.0], "positive finite"), ([100.0, np.nan], "finite")],
)
def test_rejects_unusable_bars(make_bars, close: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TradingEnv(make_bars(close))
