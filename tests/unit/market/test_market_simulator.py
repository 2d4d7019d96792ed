from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from itertools import islice

import numpy as np
import pandas as pd
import pytest

from financelake.market.simulator import Model, Tick, simulate_bars, simulate_ticks

START = datetime(2026, 1, 7, 9, 30)


def frame(ticks: list[Tick]) -> pd.DataFrame:
    df = pd.DataFrame(ticks, columns=list(Tick._fields))
    df["ts"] = pd.to_datetime(df["timestamp"], format="ISO8601")
    return df


def bar_returns(model: Model, seed: int) -> list[np.ndarray]:
    """Log returns of 1-minute close prices, per symbol, over three days of 5-second ticks."""
    ticks = list(
        simulate_ticks(
            ["AAA", "BBB"], model=model, seed=seed, start=START, tick_interval_s=5, count=103_680
        )
    )
    df = frame(ticks)
    closes = df.groupby(["symbol", df["ts"].dt.floor("1min")])["price"].last()
    return [np.diff(np.log(closes[symbol].to_numpy())) for symbol in ("AAA", "BBB")]


def test_same_seed_same_ticks_and_different_seeds_differ() -> None:
    first = list(simulate_ticks(["AAPL", "MSFT"], seed=1, start=START, count=5000))
    assert first == list(simulate_ticks(["AAPL", "MSFT"], seed=1, start=START, count=5000))
    assert first != list(simulate_ticks(["AAPL", "MSFT"], seed=2, start=START, count=5000))


def test_count_is_a_prefix_of_the_endless_stream_and_symbols_are_independent() -> None:
    endless = simulate_ticks(["AAPL", "MSFT"], seed=3, start=START, count=0)
    finite = list(simulate_ticks(["AAPL", "MSFT"], seed=3, start=START, count=9001))
    assert len(finite) == 9001
    assert list(islice(endless, 9001)) == finite
    # Adding a symbol leaves the others' ticks unchanged.
    more = simulate_ticks(["AAPL", "MSFT", "GOOG"], seed=3, start=START, count=3000)
    assert [t for t in more if t.symbol != "GOOG"] == finite[:2000]


def test_every_tick_is_valid_and_round_robin_in_event_time() -> None:
    symbols = ["AAPL", "MSFT", "GOOG"]
    ticks = list(simulate_ticks(symbols, seed=5, start=START, tick_interval_s=0.25, count=30_000))
    assert [t.symbol for t in ticks[:6]] == symbols * 2
    for tick in ticks:
        message = json.loads(tick.to_json())
        assert message == tick._asdict()
        assert isinstance(message["volume"], int) and message["volume"] >= 1
        assert all(isinstance(message[k], float) for k in ("price", "open", "high", "low"))
        assert 0 < message["low"] <= message["price"] <= message["high"]
        assert message["low"] <= message["open"] <= message["high"]
    df = frame(ticks)
    for _, group in df.groupby("symbol"):
        assert group["ts"].iloc[0] == pd.Timestamp(START)
        assert (group["ts"].diff().dropna() == pd.Timedelta(milliseconds=250)).all()
    assert (df["price"] == df["price"].round(4)).all()


def test_symbols_start_at_different_price_levels() -> None:
    symbols = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA"]
    firsts = [t.price for t in simulate_ticks(symbols, seed=7, start=START, count=5)]
    assert all(45 < p < 550 for p in firsts)
    assert max(firsts) / min(firsts) > 1.5


def test_session_open_high_low_restart_each_utc_day() -> None:
    # 10,000 ticks of 30 s per symbol: crosses three midnights and the generator's chunks.
    start = datetime(2026, 1, 7, 23, 0)
    ticks = list(
        simulate_ticks(["AAPL", "MSFT"], seed=9, start=start, tick_interval_s=30, count=20_000)
    )
    df = frame(ticks)
    sessions = df.groupby(["symbol", df["ts"].dt.date])["price"]
    assert len(sessions) == 2 * 5
    assert (df["open"] == sessions.transform("first")).all()
    assert (df["high"] == sessions.cummax()).all()
    assert (df["low"] == sessions.cummin()).all()


def test_start_with_an_offset_is_converted_to_naive_utc() -> None:
    start = datetime(2026, 1, 7, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    tick = next(iter(simulate_ticks(["AAPL"], start=start, count=1)))
    assert tick.timestamp == "2026-01-07T10:00:00.000000"
    assert tick.event_time == datetime(2026, 1, 7, 10, 0)


def test_random_walk_bars_are_unpredictable() -> None:
    for returns in bar_returns("random-walk", seed=11):
        assert abs(np.corrcoef(returns[:-1], returns[1:])[0, 1]) < 0.06
        assert abs(np.mean(np.sign(returns[1:]) == np.sign(returns[:-1])) - 0.5) < 0.03


def test_trend_bars_have_persistent_direction() -> None:
    for returns in bar_returns("trend", seed=11):
        assert np.corrcoef(returns[:-1], returns[1:])[0, 1] > 0.2
        assert np.mean(np.sign(returns[1:]) == np.sign(returns[:-1])) > 0.56


def test_mean_reverting_prices_come_back() -> None:
    # A move away from the recent level tends to be undone: 30-bar returns are negatively
    # correlated with the next 30 bars' (a random walk's are not).
    for model, low, high in (("mean-reverting", -1.0, -0.15), ("random-walk", -0.15, 0.15)):
        bars = simulate_bars(["AAA", "BBB"], bars=30_000, model=model, seed=5)
        for _, closes in bars.groupby("symbol")["close"]:
            moves = np.diff(np.log(closes.to_numpy()[::30]))
            assert low < np.corrcoef(moves[:-1], moves[1:])[0, 1] < high, model


def test_bars_are_the_published_ticks_cut_into_minutes() -> None:
    for model in ("random-walk", "trend", "mean-reverting"):
        ticks = frame(
            list(simulate_ticks(["AAA", "BBB"], model=model, seed=2, start=START,
                                tick_interval_s=20, count=600))
        )  # fmt: skip
        expected = ticks.groupby(["symbol", ticks["ts"].dt.floor("1min")])["price"].last()
        bars = simulate_bars(["AAA", "BBB"], bars=100, model=model, seed=2, start=START)
        got = bars.set_index(["symbol", "window_start"])["close"]
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy())


def test_to_json_matches_the_wire_format() -> None:
    tick = Tick("AAPL", 182.45, 532145, 180.12, 184.01, 179.85, "2026-01-07T15:42:10.123456")
    assert tick.to_json() == (
        b'{"symbol": "AAPL", "price": 182.45, "volume": 532145, "open": 180.12, '
        b'"high": 184.01, "low": 179.85, "timestamp": "2026-01-07T15:42:10.123456"}'
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"symbols": []},
        {"symbols": ["AAPL", "AAPL"]},
        {"model": "moon"},
        {"seed": -1},
        {"tick_interval_s": 0},
        {"tick_interval_s": float("nan")},
        {"count": -1},
    ],
)
def test_bad_arguments_are_refused_up_front(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        simulate_ticks(**kwargs)  # type: ignore[arg-type]
