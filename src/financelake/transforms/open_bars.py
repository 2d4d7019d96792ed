"""One symbol's open bars, folded forward batch by batch, closed by the symbol's own clock.

Spark-free (pandas only), so the closing rule is unit-tested without a JVM; the Gold stream's
stateful processor (streams/bar_state.py) keeps these accumulators per symbol in its state store.

A bar is kept as an accumulator of sums, not as its ticks: first/last price with their times,
high, low, count, sum and centred sum of squares of price (merged with Chan's formula, as Spark's
own `stddev_samp` merges partial aggregates), volume, price x volume and the sum of
price_change_pct. From those every Gold column follows exactly as `aggregate_bars` computes it.

The symbol's clock is the latest event time seen for it. A bar is closed when the clock has
passed its end plus the watermark: ingest admits a tick into Silver only when its event time is
no older than its symbol's latest Silver event time minus the watermark, so no later tick can
fall into a closed bar. The bar holding the clock's tick is never closed, so the clock is the
latest `close_at` among the open bars and needs no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from financelake.errors import ClosedBarTickError

# The accumulator's columns, in the order the state store keeps them; times are UTC epoch
# microseconds (Spark's own unit), so bar boundaries are computed exactly as `window` does.
ACCUMULATOR_COLUMNS = (
    "window_start",
    "open",
    "open_at",
    "close",
    "close_at",
    "high",
    "low",
    "ticks",
    "price_sum",
    "price_m2",
    "volume",
    "pv_sum",
    "change_sum",
)
TICK_COLUMNS = ("event_time", "price", "volume", "price_change_pct")


@dataclass(frozen=True)
class Folded:
    """The outcome of one batch for one symbol: bars closed now, bars still open (accumulators)."""

    closed: pd.DataFrame
    still_open: pd.DataFrame


def empty_accumulators() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in ACCUMULATOR_COLUMNS})


def fold_ticks(
    symbol: str, open_bars: pd.DataFrame, ticks: pd.DataFrame, bar_us: int, watermark_us: int
) -> Folded:
    """Add one batch of `symbol`'s ticks to its open bars, then close every bar its clock passed.

    Raises ClosedBarTickError if a tick belongs to a bar closed by an earlier batch: ingest's
    lateness rule makes that impossible, and adding it would break "appended exactly once".
    """
    at = _micros(ticks["event_time"])
    if len(open_bars):
        clock_before = int(open_bars["close_at"].max())
        stale = (at // bar_us) * bar_us + bar_us + watermark_us <= clock_before
        if stale.any():
            first = pd.Timestamp(int(at[stale].min()), unit="us").isoformat()
            raise ClosedBarTickError(
                f"a Silver tick of {symbol!r} at {first} falls into a bar already closed by its "
                f"clock; ingest must admit only ticks no older than the symbol's latest Silver "
                f"event time minus the watermark (check the watermark settings of ingest and Gold)"
            )
    merged = _merge(pd.concat([open_bars, _accumulate(ticks, at, bar_us)], ignore_index=True))
    clock = int(merged["close_at"].max())
    closing = merged["window_start"] + bar_us + watermark_us <= clock
    return Folded(
        closed=merged[closing].reset_index(drop=True),
        still_open=merged[~closing].reset_index(drop=True),
    )


def bar_rows(symbol: str, accumulators: pd.DataFrame, bar_us: int) -> pd.DataFrame:
    """Gold rows (GOLD's columns, in order) from accumulators; the formulas of `aggregate_bars`."""
    ticks = accumulators["ticks"]
    start = pd.to_datetime(accumulators["window_start"], unit="us")
    variance = (accumulators["price_m2"] / (ticks - 1)).where(ticks > 1, 0.0)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "window_start": start,
            "window_end": pd.to_datetime(accumulators["window_start"] + bar_us, unit="us"),
            "open": accumulators["open"],
            "high": accumulators["high"],
            "low": accumulators["low"],
            "close": accumulators["close"],
            "avg_price": accumulators["price_sum"] / ticks,
            "price_volatility": np.sqrt(variance.clip(lower=0.0)),
            "total_volume": accumulators["volume"],
            "vwap": accumulators["pv_sum"] / accumulators["volume"],
            "tick_count": ticks,
            "avg_price_change": accumulators["change_sum"] / ticks,
            "last_tick_at": pd.to_datetime(accumulators["close_at"], unit="us"),
            "date": start.dt.date,
        }
    )


def _accumulate(ticks: pd.DataFrame, at: pd.Series, bar_us: int) -> pd.DataFrame:
    """One accumulator per bar window touched by this batch's ticks."""
    frame = pd.DataFrame(
        {
            "window_start": (at // bar_us) * bar_us,
            "at": at,
            "price": ticks["price"].to_numpy(dtype="float64"),
            "volume": ticks["volume"].to_numpy(dtype="int64"),
            "change": ticks["price_change_pct"].to_numpy(dtype="float64"),
        }
    ).sort_values("at", kind="stable")
    frame["pv"] = frame["price"] * frame["volume"]
    groups = frame.groupby("window_start", sort=True)
    ticks_per_bar = groups.size()
    return pd.DataFrame(
        {
            "open": groups["price"].first(),
            "open_at": groups["at"].min(),
            "close": groups["price"].last(),
            "close_at": groups["at"].max(),
            "high": groups["price"].max(),
            "low": groups["price"].min(),
            "ticks": ticks_per_bar,
            "price_sum": groups["price"].sum(),
            "price_m2": groups["price"].var(ddof=0).fillna(0.0) * ticks_per_bar,
            "volume": groups["volume"].sum(),
            "pv_sum": groups["pv"].sum(),
            "change_sum": groups["change"].sum(),
        }
    ).reset_index()[list(ACCUMULATOR_COLUMNS)]


def _merge(parts: pd.DataFrame) -> pd.DataFrame:
    """Combine accumulators of the same window (the state's and this batch's) into one each."""
    parts = parts.astype({name: _dtype(name) for name in ACCUMULATOR_COLUMNS})
    groups = parts.groupby("window_start", sort=True)
    ticks = groups["ticks"].sum()
    price_sum = groups["price_sum"].sum()
    # Chan et al.: M2 = sum of the parts' M2 + sum of n_i * (mean_i - mean)^2.
    mean = parts["window_start"].map(price_sum / ticks)
    spread = parts["ticks"] * (parts["price_sum"] / parts["ticks"] - mean) ** 2
    first = parts.loc[groups["open_at"].idxmin()].set_index("window_start")
    last = parts.loc[groups["close_at"].idxmax()].set_index("window_start")
    merged = pd.DataFrame(
        {
            "open": first["open"],
            "open_at": first["open_at"],
            "close": last["close"],
            "close_at": last["close_at"],
            "high": groups["high"].max(),
            "low": groups["low"].min(),
            "ticks": ticks,
            "price_sum": price_sum,
            "price_m2": groups["price_m2"].sum() + spread.groupby(parts["window_start"]).sum(),
            "volume": groups["volume"].sum(),
            "pv_sum": groups["pv_sum"].sum(),
            "change_sum": groups["change_sum"].sum(),
        }
    )
    return merged.reset_index()[list(ACCUMULATOR_COLUMNS)]


def _micros(times: pd.Series) -> pd.Series:
    """Event times (naive UTC, as Spark hands them to pandas) as epoch microseconds."""
    return pd.Series(
        pd.to_datetime(times).to_numpy(dtype="datetime64[us]").astype("int64"), index=times.index
    )


def _dtype(name: str) -> str:
    integral = name in ("window_start", "open_at", "close_at", "ticks", "volume")
    return "int64" if integral else "float64"
