"""Replay an OHLCV CSV export (Yahoo-style, daily or intraday) as ticks.

Every bar becomes up to four ticks (open, low and high in a plausible order, close) that lie
inside the bar and carry its whole volume, so bars of the same interval built from the ticks
reproduce the file's Open, High, Low, Close and Volume exactly.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from datetime import datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from financelake.errors import FinanceLakeError
from financelake.market.simulator import Tick, utc_naive

TIME_COLUMNS = ("date", "datetime", "timestamp")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")


class Bar(NamedTuple):
    """One row of the CSV; `start` is naive UTC (once `read_bars` returns it), `line` its line."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    line: int


def read_bars(path: Path) -> list[Bar]:
    """The file's bars in time order, or a FinanceLakeError naming the file and line at fault.

    Columns are matched case-insensitively; the time column may be called Date, Datetime or
    Timestamp and holds ISO-8601 dates or date-times: naive ones are UTC, others are converted
    to UTC unless every row is a local midnight (a daily file), which keeps its dates.
    Other columns (Adj Close, ...) are ignored.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if header is None:
                raise FinanceLakeError(f"{path} is empty; expected an OHLCV CSV with a header")
            index = _column_index(path, header)
            bars = [
                _parse_row(path, reader.line_num, row, index)
                for row in reader
                if any(cell.strip() for cell in row)
            ]
    except OSError as exc:
        raise FinanceLakeError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FinanceLakeError(f"{path} is not a UTF-8 text file: {exc}") from exc
    if not bars:
        raise FinanceLakeError(f"{path} has a header but no rows")
    # Daily exports stamp each day at local midnight (yfinance: 2024-01-02 00:00:00-05:00).
    # That is a calendar day, not an instant: keep its date rather than move it to 05:00 UTC.
    dates_only = all(bar.start.time() == time() for bar in bars)
    bars = sorted(
        (
            bar._replace(
                start=bar.start.replace(tzinfo=None) if dates_only else utc_naive(bar.start)
            )
            for bar in bars
        ),
        key=lambda bar: bar.start,
    )
    for before, after in pairwise(bars):
        if before.start == after.start:
            raise FinanceLakeError(
                f"{path}: lines {before.line} and {after.line} are both bars of {after.start}"
            )
    return bars


def _column_index(path: Path, header: Sequence[str]) -> dict[str, int]:
    names = {name.strip().lower(): i for i, name in enumerate(header)}
    index = {name: names[name] for name in VALUE_COLUMNS if name in names}
    time_column = next((name for name in TIME_COLUMNS if name in names), None)
    missing = [name.capitalize() for name in VALUE_COLUMNS if name not in index]
    if time_column is None:
        missing.insert(0, "Date (or Timestamp)")
    if missing:
        raise FinanceLakeError(
            f"{path}:1: missing column(s) {', '.join(missing)}; found {', '.join(header)}. "
            "Expected an OHLCV export with Date, Open, High, Low, Close, Volume."
        )
    assert time_column is not None
    index["time"] = names[time_column]
    return index


def _parse_row(path: Path, line: int, row: Sequence[str], index: dict[str, int]) -> Bar:
    def cell(name: str) -> str:
        if index[name] >= len(row):
            raise FinanceLakeError(f"{path}:{line}: row has no {name.capitalize()} value")
        return row[index[name]].strip()

    def price(name: str) -> float:
        text = cell(name)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise FinanceLakeError(
                f"{path}:{line}: {name.capitalize()} {text!r} is not a positive number"
            )
        return value

    text = cell("time")
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise FinanceLakeError(
            f"{path}:{line}: time {text!r} is not an ISO-8601 date or date-time "
            "(e.g. 2024-01-02 or 2024-01-02 09:30:00-05:00)"
        ) from None
    open_, high, low, close = price("open"), price("high"), price("low"), price("close")
    volume_text = cell("volume")
    try:
        volume_value = float(volume_text)
    except ValueError:
        volume_value = math.nan
    if not (volume_value >= 0 and volume_value.is_integer()):
        raise FinanceLakeError(
            f"{path}:{line}: Volume {volume_text!r} is not a whole number of shares"
        )
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise FinanceLakeError(
            f"{path}:{line}: inconsistent bar (Open {open_}, High {high}, Low {low}, "
            f"Close {close}); Low must be the smallest and High the largest price"
        )
    bar = Bar(start, open_, high, low, close, int(volume_value), line)
    needed = len(tick_prices(bar))
    if bar.volume < needed:
        raise FinanceLakeError(
            f"{path}:{line}: Volume {bar.volume} is too small to carry this bar's {needed} "
            "distinct prices (every tick trades at least one share)"
        )
    return bar


def tick_prices(bar: Bar) -> list[float]:
    """Open, then low and high (low first on an up bar), then close, repeats merged."""
    middle = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
    prices = [bar.open]
    for price in (*middle, bar.close):
        if price != prices[-1]:
            prices.append(price)
    return prices


def infer_bar_seconds(bars: Sequence[Bar]) -> float:
    """The bars' interval: the smallest gap between consecutive bars (weekends are gaps)."""
    gaps = [(b.start - a.start).total_seconds() for a, b in pairwise(bars)]
    if not gaps:
        raise ValueError("a single bar has no spacing to infer its interval from")
    return min(gaps)


def bar_ticks(bar: Bar, symbol: str, bar_seconds: float) -> list[Tick]:
    """The ticks of one bar, at the prices of `tick_prices` (one to four of them).

    The volume is split among them as whole shares, each at least one (`read_bars` checks
    there are enough). Tick i of k is stamped at start + (i + ½) · interval / k: strictly
    inside the bar and in order.
    """
    prices = tick_prices(bar)
    k = len(prices)
    volumes = [bar.volume // k] * k
    volumes[-1] += bar.volume - k * (bar.volume // k)
    interval_us = round(bar_seconds * 1_000_000)
    ticks = []
    high = low = bar.open
    for i, (price, volume) in enumerate(zip(prices, volumes, strict=True)):
        high, low = max(high, price), min(low, price)
        moment = bar.start + timedelta(microseconds=(2 * i + 1) * interval_us // (2 * k))
        stamp = moment.isoformat(timespec="microseconds")
        ticks.append(Tick(symbol, price, volume, bar.open, high, low, stamp))
    return ticks


def replay_ticks(path: Path, symbol: str, *, bar_seconds: float | None = None) -> Iterator[Tick]:
    """Ticks that rebuild the CSV's bars; the file is read and checked before this returns.

    `bar_seconds` is the bars' interval (86400 for daily bars); by default it is inferred from
    the spacing of the rows.
    """
    if not symbol.strip():
        raise FinanceLakeError("replay needs a symbol name for the file's ticks")
    bars = read_bars(path)
    if bar_seconds is None and len(bars) < 2:
        raise FinanceLakeError(
            f"{path} holds a single bar, so its interval cannot be inferred; "
            "give it (e.g. 86400 for daily bars)"
        )
    interval = infer_bar_seconds(bars) if bar_seconds is None else bar_seconds
    if not (math.isfinite(interval) and interval * 1_000_000 >= 1):
        raise FinanceLakeError(f"bar interval must be a positive number of seconds: {interval}")
    for a, b in pairwise(bars):
        if (b.start - a.start).total_seconds() < interval:
            raise FinanceLakeError(
                f"{path}: lines {a.line} and {b.line} are closer than the bar interval of "
                f"{interval:g} s; give the right interval"
            )
    return (tick for bar in bars for tick in bar_ticks(bar, symbol.strip(), interval))
