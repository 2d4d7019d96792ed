"""One symbol's open bars folded batch by batch (no Spark): exact bars, closed by its own clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from financelake.errors import ClosedBarTickError
from financelake.transforms.open_bars import bar_rows, empty_accumulators, fold_ticks

BAR_US = 60 * 1_000_000
WATERMARK_US = 30 * 1_000_000
T0 = datetime(2026, 1, 7, 15, 0, 0)


def ticks(seconds: list[float], prices: list[float] | None = None) -> pd.DataFrame:
    prices = prices if prices is not None else [100.0 + (i % 7) * 0.25 for i in range(len(seconds))]
    return pd.DataFrame(
        {
            "event_time": [T0 + timedelta(seconds=s) for s in seconds],
            "price": prices,
            "volume": [10 + i for i in range(len(seconds))],
            "price_change_pct": [0.1 * i for i in range(len(seconds))],
        }
    )


def bars_directly(frame: pd.DataFrame) -> pd.DataFrame:
    """What aggregate_bars computes, in pandas, over all ticks at once."""
    frame = frame.sort_values("event_time").assign(
        window_start=lambda f: f.event_time.dt.floor("1min"), pv=lambda f: f.price * f.volume
    )
    grouped = frame.groupby("window_start")
    out = grouped.agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        avg_price=("price", "mean"),
        price_volatility=("price", "std"),
        total_volume=("volume", "sum"),
        tick_count=("price", "size"),
        pv=("pv", "sum"),
        avg_price_change=("price_change_pct", "mean"),
        last_tick_at=("event_time", "max"),
    ).reset_index()
    out["price_volatility"] = out.price_volatility.fillna(0.0)
    out["vwap"] = out.pv / out.total_volume
    return out.drop(columns="pv")


def fold_all(batches: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold the batches in order; return (every closed bar, the bars still open) as Gold rows."""
    held, closed = empty_accumulators(), []
    for batch in batches:
        folded = fold_ticks("AAPL", held, batch, BAR_US, WATERMARK_US)
        closed.append(bar_rows("AAPL", folded.closed, BAR_US))
        held = folded.still_open
    return pd.concat(closed, ignore_index=True), bar_rows("AAPL", held, BAR_US)


def test_bars_folded_in_any_batching_equal_the_bars_of_all_ticks_at_once() -> None:
    rng = np.random.default_rng(3)
    seconds = sorted(rng.uniform(0, 300, 400).tolist())
    # Ticks arrive out of order within the lateness bound: shuffle inside 20-second blocks.
    frame = ticks(seconds, (100 + rng.normal(0, 1, 400).cumsum()).tolist()).sample(
        frac=1.0, random_state=1
    )
    frame = frame.assign(block=frame.event_time.dt.floor("20s")).sort_values("block", kind="stable")
    want = bars_directly(frame.drop(columns="block"))
    for cuts in ([400], [1, 150, 151, 399, 400], [*range(7, 400, 37), 400]):
        edges = pairwise([0, *cuts])
        batches = [frame.iloc[a:b].drop(columns="block") for a, b in edges]
        closed, still_open = fold_all(batches)
        got = pd.concat([closed, still_open], ignore_index=True).sort_values("window_start")
        assert not set(closed.window_start) & set(still_open.window_start)
        pd.testing.assert_frame_equal(
            got.reset_index(drop=True)[want.columns],
            want,
            check_dtype=False,
            rtol=1e-12,
        )


def test_a_bar_closes_when_the_clock_reaches_its_end_plus_the_watermark() -> None:
    held = fold_ticks("AAPL", empty_accumulators(), ticks([5, 50]), BAR_US, WATERMARK_US)
    assert held.closed.empty
    # 15:01:29.999: the 15:00 bar is still open (its end 15:01:00 + 30 s not reached).
    almost = fold_ticks("AAPL", held.still_open, ticks([89.999]), BAR_US, WATERMARK_US)
    assert almost.closed.empty
    assert len(almost.still_open) == 2
    # 15:01:30 exactly: it closes, once, with both its ticks; the 15:01 bar stays open.
    closing = fold_ticks("AAPL", almost.still_open, ticks([90]), BAR_US, WATERMARK_US)
    assert closing.closed.ticks.tolist() == [2]
    assert closing.closed.window_start.tolist() == [int(T0.timestamp()) * 1_000_000]
    assert closing.still_open.ticks.tolist() == [2]


def test_a_tick_into_a_bar_already_closed_is_an_error_not_a_second_row() -> None:
    held = fold_ticks("AAPL", empty_accumulators(), ticks([5, 95]), BAR_US, WATERMARK_US)
    assert held.closed.ticks.tolist() == [1]
    with pytest.raises(ClosedBarTickError, match="'AAPL' at 2026-01-07T15:00:59"):
        fold_ticks("AAPL", held.still_open, ticks([59]), BAR_US, WATERMARK_US)
    # Within the watermark of the clock (15:01:35), a tick of the open bar is still welcome.
    later = fold_ticks("AAPL", held.still_open, ticks([66]), BAR_US, WATERMARK_US)
    assert later.still_open.ticks.tolist() == [2]


def test_a_single_tick_bar_has_zero_volatility_and_its_own_price_everywhere() -> None:
    folded = fold_ticks("AAPL", empty_accumulators(), ticks([1, 200], [101.5, 99.0]), BAR_US, 0)
    row = bar_rows("AAPL", folded.closed, BAR_US).iloc[0]
    assert (row.open, row.high, row.low, row.close, row.avg_price, row.vwap) == (101.5,) * 6
    assert row.price_volatility == 0.0
    assert row.window_end - row.window_start == pd.Timedelta(minutes=1)
    assert row.date == T0.date()
