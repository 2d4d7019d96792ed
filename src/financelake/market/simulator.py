"""Simulated market ticks: a pure, seeded generator (no I/O).

Each symbol follows a geometric random walk in *market time* (event timestamps advance by
`tick_interval_s` per tick, however fast the ticks are produced). The `trend` model adds a
persistent drift regime so that the direction of the next bar is partly predictable; the
`mean-reverting` model pulls the log price back towards a slowly wandering anchor (an
Ornstein-Uhlenbeck deviation), so a price far below its recent level tends to come back; the
`random-walk` model has neither, so an honest classifier should score AUC ≈ 0.5 on it.

Symbols draw from their own generator seeded by `(seed, crc32(symbol))`: the same seed gives
the same ticks, and adding a symbol does not change the others.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import count as counter
from itertools import islice, pairwise
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

Model = Literal["random-walk", "trend", "mean-reverting"]
MODELS: tuple[Model, ...] = ("random-walk", "trend", "mean-reverting")
DEFAULT_MODEL: Model = "trend"  # the demo wants something learnable; random-walk is the control
DEFAULT_SYMBOLS: tuple[str, ...] = ("AAPL", "MSFT", "GOOG", "AMZN")

VOLATILITY = 1e-4  # std of the log return per √second of market time (≈ 2.9 % a day)
TREND_REGIME_S = 300.0  # mean life of a drift regime, in seconds of market time
TREND_DRIFT = 1.1e-5  # std of a regime's drift (log return per second of market time)
REVERSION_S = 900.0  # mean-reverting model: mean life of a deviation from the anchor (market time)
DOLLAR_VOLUME_PER_S = 20_000.0  # median traded value per second, so cheap stocks trade more shares
_CHUNK = 4096  # ticks drawn per symbol at a time; part of the seed's meaning, keep it fixed
_EPOCH = datetime(1970, 1, 1)
_US_PER_DAY = 86_400_000_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Tick(NamedTuple):
    """One trade print, as published on the topic (see `to_json`).

    `open`/`high`/`low` are the running values of the symbol's session (UTC calendar day, or
    the bar for replayed data), so `low <= price <= high` always holds.
    `timestamp` is the event time: naive ISO-8601 UTC with microseconds, exactly as on the wire.
    """

    symbol: str
    price: float
    volume: int
    open: float
    high: float
    low: float
    timestamp: str

    def to_json(self) -> bytes:
        """The UTF-8 JSON message.

        Hand-built because it runs once per tick: the symbol's prefix and the session values,
        which repeat from tick to tick, come from caches, as float formatting dominates the cost.
        """
        symbol, price, volume, open_, high, low, timestamp = self
        return (
            f'{_prefix(symbol)}{price}, "volume": {volume}, "open": {_number(open_)}, '
            f'"high": {_number(high)}, "low": {_number(low)}, "timestamp": "{timestamp}"}}'
        ).encode()

    @property
    def event_time(self) -> datetime:
        """The timestamp as a naive UTC datetime."""
        return datetime.fromisoformat(self.timestamp)


@lru_cache(maxsize=1024)
def _prefix(symbol: str) -> str:
    return f'{{"symbol": {json.dumps(symbol)}, "price": '


_number = lru_cache(maxsize=4096)(str)


def utc_naive(moment: datetime | None) -> datetime:
    """`moment` as a naive UTC datetime (naive input is taken as UTC); now if None."""
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def simulate_ticks(
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    *,
    model: Model = DEFAULT_MODEL,
    seed: int = 7,
    start: datetime | None = None,
    tick_interval_s: float = 1.0,
    count: int = 0,
) -> Iterator[Tick]:
    """Ticks for `symbols`, round robin, `count` in all (0 = endless).

    Every symbol's n-th tick is stamped `start + n * tick_interval_s` (start defaults to now,
    UTC), so all symbols advance together in event time. Arguments are checked here, before
    the first tick is asked for.
    """
    names = [s.strip() for s in symbols]
    if not names or not all(names):
        raise ValueError(f"symbols must be non-empty names, got {list(symbols)!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"symbols must be distinct, got {names!r}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    step_us = round(tick_interval_s * 1_000_000) if math.isfinite(tick_interval_s) else 0
    if step_us < 1:
        raise ValueError(f"tick_interval_s must be at least 1 µs, got {tick_interval_s}")
    if count < 0:
        raise ValueError(f"count must be >= 0 (0 = endless), got {count}")
    start_us = (utc_naive(start) - _EPOCH) // timedelta(microseconds=1)
    ticks = _simulate(names, model, seed, start_us, step_us)
    return islice(ticks, count) if count else ticks


def simulate_bars(
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    *,
    bars: int,
    model: Model = DEFAULT_MODEL,
    seed: int = 7,
    bar_seconds: int = 60,
    tick_interval_s: float = 20.0,
    start: datetime = datetime(2024, 1, 1),
) -> pd.DataFrame:
    """Closing prices of `bars` bars per symbol: columns symbol, window_start, close.

    The same prices `simulate_ticks` publishes with the same seed, model and tick interval
    (drawn in the same chunks), cut into bars the way Gold cuts them: a bar's close is its last
    tick's price. For experiments and tests that need many bars without Kafka or Spark.
    """
    per_bar = bar_seconds / tick_interval_s
    if bars < 1 or per_bar < 1 or per_bar != int(per_bar):
        raise ValueError(
            f"need bars >= 1 and bar_seconds a whole multiple of tick_interval_s, got {bars}, "
            f"{bar_seconds}, {tick_interval_s}"
        )
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    n = bars * int(per_bar)
    times = pd.date_range(utc_naive(start), periods=bars, freq=f"{bar_seconds}s")
    frames = []
    for symbol in symbols:
        path = _PricePath(symbol, seed, model, tick_interval_s)
        prices = np.concatenate([path.step(_CHUNK)[0] for _ in range(-(-n // _CHUNK))])[:n]
        closes = prices[int(per_bar) - 1 :: int(per_bar)]
        frames.append(pd.DataFrame({"symbol": symbol, "window_start": times, "close": closes}))
    return pd.concat(frames, ignore_index=True)


def _simulate(
    symbols: list[str], model: Model, seed: int, start_us: int, step_us: int
) -> Iterator[Tick]:
    paths = [_PricePath(symbol, seed, model, step_us / 1e6) for symbol in symbols]
    sessions = _Sessions(len(symbols))
    names = symbols * _CHUNK
    for chunk in counter():
        first = chunk * _CHUNK
        micros = start_us + step_us * np.arange(first, first + _CHUNK, dtype=np.int64)
        drawn = [path.step(_CHUNK) for path in paths]
        prices = np.stack([p for p, _ in drawn])  # (symbol, step)
        volumes = np.stack([v for _, v in drawn])
        opens, highs, lows = sessions.update(prices, micros // _US_PER_DAY)
        stamps = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
        # Transposing puts the arrays in step-major order: one tick per symbol, round robin.
        yield from map(
            Tick,
            names,
            prices.T.ravel().tolist(),
            volumes.T.ravel().tolist(),
            opens.T.ravel().tolist(),
            highs.T.ravel().tolist(),
            lows.T.ravel().tolist(),
            np.repeat(stamps, len(symbols)).tolist(),
        )


class _PricePath:
    """One symbol's log-price walk, drawn a chunk at a time."""

    def __init__(self, symbol: str, seed: int, model: Model, dt: float) -> None:
        self.rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
        start_price = round(float(self.rng.uniform(50.0, 500.0)), 2)
        self.log_price = math.log(start_price)
        self.median_volume = max(1.0, DOLLAR_VOLUME_PER_S * dt / start_price)
        self.noise = VOLATILITY * math.sqrt(dt)
        self.dt = dt
        self.trend = model == "trend"
        self.reverting = model == "mean-reverting"
        # Exact discretisation of the Ornstein-Uhlenbeck deviation: x' = keep * x + shock.
        self.keep = math.exp(-dt / REVERSION_S)
        self.deviation = 0.0
        self.anchor = self.log_price
        # A regime ends in any tick with the probability that fits its mean life in market time.
        self.switch_p = -math.expm1(-dt / TREND_REGIME_S)
        self.drift = float(self.rng.normal(0.0, TREND_DRIFT))

    def step(self, n: int) -> tuple[FloatArray, IntArray]:
        """The next `n` prices (rounded to 4 decimals) and volumes."""
        returns = self.noise * self.rng.standard_normal(n)
        if self.trend:
            returns += self._drifts(n) * self.dt
        if self.reverting:
            log_prices = self._reverting(returns)
        else:
            log_prices = self.log_price + np.cumsum(returns)
        self.log_price = float(log_prices[-1])
        # Rounded before anyone takes a max or min, so low <= price <= high survives JSON.
        prices = np.maximum(np.round(np.exp(log_prices), 4), 1e-4)
        sizes = self.rng.lognormal(math.log(self.median_volume), 0.6, n)
        volumes = np.maximum(np.rint(sizes), 1).astype(np.int64)
        return prices, volumes

    def _reverting(self, shocks: FloatArray) -> FloatArray:
        # log price = anchor + deviation: the deviation decays towards 0 (AR(1), the exact
        # discretisation of an Ornstein-Uhlenbeck process), the anchor wanders at a tenth of the
        # noise so prices keep no fixed level. A plain loop: the recursion is sequential, and
        # at ~0.1 µs a tick it costs far less than building the ticks.
        deviation = np.empty(len(shocks))
        x, keep = self.deviation, self.keep
        for i, shock in enumerate(shocks.tolist()):
            x = keep * x + shock
            deviation[i] = x
        self.deviation = x
        anchors = self.anchor + np.cumsum(0.1 * self.noise * self.rng.standard_normal(len(shocks)))
        self.anchor = float(anchors[-1])
        return anchors + deviation

    def _drifts(self, n: int) -> FloatArray:
        # Piecewise-constant drift: each tick may start a new regime with a fresh N(0, σ) drift.
        # Its autocorrelation decays as exp(-lag / TREND_REGIME_S), so it survives aggregation
        # into bars, which i.i.d. or short-memory tick returns would not.
        switches = self.rng.random(n) < self.switch_p
        fresh = self.rng.normal(0.0, TREND_DRIFT, n)
        latest = np.maximum.accumulate(np.where(switches, np.arange(n), -1))
        drifts = np.where(latest >= 0, fresh[np.maximum(latest, 0)], self.drift)
        self.drift = float(drifts[-1])
        return drifts


class _Sessions:
    """Running session (UTC calendar day) open/high/low of every symbol, across chunks."""

    def __init__(self, symbols: int) -> None:
        self.day = -1
        self.open = np.zeros(symbols)
        self.high = np.zeros(symbols)
        self.low = np.zeros(symbols)

    def update(
        self, prices: FloatArray, days: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Session open/high/low for every price of a chunk (symbols × steps)."""
        opens, highs, lows = np.empty_like(prices), np.empty_like(prices), np.empty_like(prices)
        bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(days)]
        for a, b in pairwise(bounds):
            segment = prices[:, a:b]
            if days[a] != self.day:  # a new day opens at its first price
                self.day = int(days[a])
                self.open, self.high, self.low = (segment[:, 0].copy() for _ in range(3))
            highs[:, a:b] = np.maximum(np.maximum.accumulate(segment, axis=1), self.high[:, None])
            lows[:, a:b] = np.minimum(np.minimum.accumulate(segment, axis=1), self.low[:, None])
            opens[:, a:b] = self.open[:, None]
            self.high, self.low = highs[:, b - 1].copy(), lows[:, b - 1].copy()
        return opens, highs, lows
