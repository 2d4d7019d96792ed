"""Replay a market-data file (CSV or Parquet) as ticks: OHLCV bars or trades, one or many symbols.

A bar becomes up to four ticks (open, low and high in a plausible order, close) that lie inside
the bar and carry its whole volume, so bars of the same interval built from the ticks
reproduce the file's Open, High, Low, Close and Volume exactly. A trade row becomes one trade
tick (no open/high/low). With a Symbol column a file may hold many symbols; their ticks are
sent in event-time order across symbols.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby, pairwise
from pathlib import Path
from typing import Any, NamedTuple, cast

from financelake.errors import FinanceLakeError
from financelake.market.simulator import Tick, utc_naive

TIME_COLUMNS = ("date", "datetime", "timestamp", "time")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
TRADE_COLUMNS = ("price", "volume")
# What an unnamed column (a pandas index written by to_csv / to_parquet) is called.
_INDEX_NAMES = ("", "index", "__index_level_0__")

Message = Tick | dict[str, Any]  # an OHLC tick, or a trade tick without open/high/low


class Bar(NamedTuple):
    """One row of a bar file; `start` is naive UTC (once read), `line` its CSV line or row."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    line: int
    symbol: str = ""


@dataclass(frozen=True)
class Table:
    """A file's header (lower-cased, stripped) and its rows, each with its line (or row)."""

    path: Path
    header: list[str]
    rows: Sequence[tuple[int, Sequence[Any]]]

    def column(self, *names: str) -> int | None:
        return next((self.header.index(n) for n in names if n in self.header), None)


@dataclass(frozen=True)
class Replay:
    """A file's ticks in send order, and which rows they come from."""

    path: Path
    ticks: list[Message]
    rows: int
    row_ends: list[int]  # per row, sorted: how many ticks are sent once the row is complete

    def rows_sent(self, ticks_sent: int) -> int:
        """Rows all of whose ticks are among the first `ticks_sent`."""
        return bisect_right(self.row_ends, ticks_sent)

    def describe(self, ticks_sent: int) -> str:
        return (
            f"replayed {self.rows_sent(ticks_sent):,} of {self.rows:,} rows "
            f"({ticks_sent:,} of {len(self.ticks):,} ticks) from {self.path}"
        )


def read_table(path: Path) -> Table:
    """The file's header and rows, or a FinanceLakeError naming the file."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            data = pq.read_table(path)
            header = [str(name) for name in data.column_names]
            columns = [data.column(i).to_pylist() for i in range(data.num_columns)]
            rows = [(i + 1, list(row)) for i, row in enumerate(zip(*columns, strict=True))]
        else:
            with path.open(newline="", encoding="utf-8-sig") as file:
                reader = csv.reader(file)
                first = next(reader, None)
                if first is None:
                    raise FinanceLakeError(f"{path} is empty; expected a CSV with a header")
                header = first
                rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except OSError as exc:
        raise FinanceLakeError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FinanceLakeError(f"{path} is not a UTF-8 text file: {exc}") from exc
    except Exception as exc:  # pyarrow's errors for a file that is not Parquet
        if isinstance(exc, FinanceLakeError):
            raise
        raise FinanceLakeError(f"cannot read {path} as Parquet: {exc}") from exc
    return Table(path, [name.strip().lower() for name in header], rows)


def replay_file(
    path: Path, symbol: str | None = None, *, bar_seconds: float | None = None
) -> Replay:
    """Read and check the whole file, then return its ticks (nothing is sent before that).

    A file with Open, High, Low, Close and Volume is a bar file; one with Price and Volume a
    trade file. The time column is Date, Datetime, Timestamp or Time, or an unnamed column of
    dates (a pandas index). `symbol` names the ticks of a file without a Symbol column
    (default: the file name's stem) and is refused for a file with one. `bar_seconds` is the bars'
    interval; by default it is inferred per symbol from the spacing of its rows.
    """
    table = read_table(path)
    time_column = _time_column(table)
    kind = VALUE_COLUMNS if all(c in table.header for c in VALUE_COLUMNS[:4]) else TRADE_COLUMNS
    if "open" in table.header and kind is TRADE_COLUMNS and "price" not in table.header:
        kind = VALUE_COLUMNS  # a bar file with a missing column: name the bar columns
    missing = [name.capitalize() for name in kind if name not in table.header]
    if time_column is None:
        missing.insert(0, "Date (or Timestamp)")
    if missing:
        raise FinanceLakeError(
            f"{path}:1: missing column(s) {', '.join(missing)}; found {', '.join(table.header)}. "
            "Expected bars (Date, Open, High, Low, Close, Volume) or trades "
            "(Timestamp, Price, Volume), each with an optional Symbol."
        )
    assert time_column is not None
    if not table.rows:
        raise FinanceLakeError(f"{path} has a header but no rows")
    symbols = _symbols(table, symbol)
    if kind is TRADE_COLUMNS:
        return _trade_replay(table, time_column, symbols)
    return _bar_replay(table, time_column, symbols, bar_seconds)


def replay_ticks(path: Path, symbol: str, *, bar_seconds: float | None = None) -> list[Message]:
    """The file's ticks in send order (see `replay_file`)."""
    return replay_file(path, symbol, bar_seconds=bar_seconds).ticks


def _time_column(table: Table) -> int | None:
    named = table.column(*TIME_COLUMNS)
    if named is not None:
        return named
    unnamed = [
        i
        for i, name in enumerate(table.header)
        if name in _INDEX_NAMES or name.startswith("unnamed:")
    ]  # Parquet keeps a pandas index as its last column
    if not unnamed:
        return None
    if table.rows:
        try:
            _moment(table.rows[0][1][unnamed[0]])
        except (ValueError, TypeError, IndexError):
            return None
    return unnamed[0]


def _symbols(table: Table, symbol: str | None) -> list[str]:
    """Each row's symbol."""
    column = table.column("symbol")
    if column is None:
        name = (symbol or table.path.stem.upper()).strip()
        if not name:
            raise FinanceLakeError(f"{table.path} has no Symbol column; name its symbol")
        return [name] * len(table.rows)
    if symbol is not None:
        raise FinanceLakeError(f"{table.path} has a Symbol column; a symbol cannot also be given")
    names = []
    for line, row in table.rows:
        name = str(_cell(table, line, row, column, "Symbol")).strip()
        if not name:
            raise FinanceLakeError(f"{table.path}:{line}: empty Symbol")
        names.append(name)
    return names


def _cell(table: Table, line: int, row: Sequence[Any], column: int, name: str) -> Any:
    if column >= len(row) or row[column] is None:
        raise FinanceLakeError(f"{table.path}:{line}: row has no {name} value")
    return row[column].strip() if isinstance(row[column], str) else row[column]


def _moment(cell: Any) -> datetime:
    if isinstance(cell, datetime):
        return cell
    if isinstance(cell, date):
        return datetime.combine(cell, time())
    return datetime.fromisoformat(str(cell).strip())


def _number(table: Table, line: int, row: Sequence[Any], name: str, *, whole: bool) -> float:
    column = table.column(name)
    assert column is not None
    cell = _cell(table, line, row, column, name.capitalize())
    try:
        value = float(cell)
    except (ValueError, TypeError):
        value = math.nan
    if whole:
        if not (value >= 0 and value.is_integer()):
            raise FinanceLakeError(
                f"{table.path}:{line}: Volume {cell!r} is not a whole number of shares"
            )
    elif not (math.isfinite(value) and value > 0):
        raise FinanceLakeError(
            f"{table.path}:{line}: {name.capitalize()} {cell!r} is not a positive number"
        )
    return value


def _times(table: Table, column: int) -> list[datetime]:
    """Each row's time as naive UTC; a file of local midnights keeps its calendar dates."""
    moments = []
    for line, row in table.rows:
        cell = _cell(table, line, row, column, "time")
        try:
            moments.append(_moment(cell))
        except (ValueError, TypeError):
            raise FinanceLakeError(
                f"{table.path}:{line}: time {cell!r} is not an ISO-8601 date or date-time "
                "(e.g. 2024-01-02 or 2024-01-02 09:30:00-05:00)"
            ) from None
    # Daily exports stamp each day at local midnight (yfinance: 2024-01-02 00:00:00-05:00).
    # That is a calendar day, not an instant: keep its date rather than move it to 05:00 UTC.
    if all(moment.time() == time() for moment in moments):
        return [moment.replace(tzinfo=None) for moment in moments]
    return [utc_naive(moment) for moment in moments]


def _trade_replay(table: Table, time_column: int, symbols: list[str]) -> Replay:
    stamps = _times(table, time_column)
    trades: list[tuple[datetime, list[Message]]] = []
    for (line, row), symbol, stamp in zip(table.rows, symbols, stamps, strict=True):
        price = _number(table, line, row, "price", whole=False)
        volume = _number(table, line, row, "volume", whole=True)
        if volume < 1:
            raise FinanceLakeError(f"{table.path}:{line}: Volume must be at least one share")
        moment = stamp.isoformat(timespec="microseconds")
        tick = {"symbol": symbol, "price": price, "volume": int(volume), "timestamp": moment}
        trades.append((stamp, [cast(Message, tick)]))
    return _in_time_order(table.path, trades)


def _bar_replay(
    table: Table, time_column: int, symbols: list[str], bar_seconds: float | None
) -> Replay:
    stamps = _times(table, time_column)
    bars = [
        _bar(table, line, row, start, symbol)
        for (line, row), symbol, start in zip(table.rows, symbols, stamps, strict=True)
    ]
    timed: list[tuple[datetime, list[Message]]] = []
    by_symbol = sorted(bars, key=lambda bar: (bar.symbol, bar.start))
    for symbol, group in groupby(by_symbol, key=lambda bar: bar.symbol):
        own = list(group)
        interval = _interval(table.path, own, bar_seconds)
        timed += [(bar.start, list(bar_ticks(bar, symbol, interval))) for bar in own]
    return _in_time_order(table.path, timed)


def _in_time_order(path: Path, rows: Iterable[tuple[datetime, list[Message]]]) -> Replay:
    """Ticks of all rows sorted by event time (stable: a row's ticks stay in order)."""
    positioned = [
        (_event_time(tick), row, tick) for row, (_, ticks) in enumerate(rows) for tick in ticks
    ]
    positioned.sort(key=lambda item: item[0])
    ends: dict[int, int] = {}
    for index, (_, row, _) in enumerate(positioned):
        ends[row] = index + 1
    return Replay(path, [tick for *_, tick in positioned], len(ends), sorted(ends.values()))


def _event_time(tick: Message) -> str:
    return tick.timestamp if isinstance(tick, Tick) else str(tick["timestamp"])


def _bar(table: Table, line: int, row: Sequence[Any], start: datetime, symbol: str) -> Bar:
    path = table.path

    def price(name: str) -> float:
        return _number(table, line, row, name, whole=False)

    open_, high, low, close = price("open"), price("high"), price("low"), price("close")
    volume = int(_number(table, line, row, "volume", whole=True))
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise FinanceLakeError(
            f"{path}:{line}: inconsistent bar (Open {open_}, High {high}, Low {low}, "
            f"Close {close}); Low must be the smallest and High the largest price"
        )
    bar = Bar(start, open_, high, low, close, volume, line, symbol)
    needed = len(tick_prices(bar))
    if bar.volume < needed:
        raise FinanceLakeError(
            f"{path}:{line}: Volume {bar.volume} is too small to carry this bar's {needed} "
            "distinct prices (every tick trades at least one share)"
        )
    return bar


def _interval(path: Path, bars: Sequence[Bar], bar_seconds: float | None) -> float:
    """The bars' interval (given, or inferred); bars must be at least that far apart."""
    for before, after in pairwise(bars):
        if before.start == after.start:
            raise FinanceLakeError(
                f"{path}: lines {before.line} and {after.line} are both bars of {after.start}"
            )
    if bar_seconds is None and len(bars) < 2:
        raise FinanceLakeError(
            f"{path} holds a single bar of {bars[0].symbol}, so its interval cannot be "
            "inferred; give it (e.g. 86400 for daily bars)"
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
    return interval


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

    The volume is split among them as whole shares, each at least one (`_bar` checks there
    are enough). Tick i of k is stamped at start + (i + ½) · interval / k: strictly inside the
    bar and in order.
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
