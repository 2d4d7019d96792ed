"""Per-bar features and the next-bar label, computed from closed Gold bars only.

Every feature of a bar uses that bar and earlier bars of the same symbol, never a later one; the
label is the only column that looks forward, by exactly one bar. "Previous" and "next" bar mean the
previous / next *closed* bar of the same symbol in `window_start` order: Gold may have gaps (a
minute without ticks has no bar), and the label then compares with the next bar that exists.
Apply these transforms to closed bars only (`transforms.gold.closed_bars`), so that a bar still
receiving ticks is neither a feature row nor somebody's "next bar".

Features are relative (returns, ratios to price, log volume against the symbol's own history), so
symbols trading at 5 and at 5,000 mix in one model; the pipeline then standardises them with
statistics from the training part only (see `financelake.ml.train`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

from financelake.schemas import BAR_PRICES
from financelake.transforms.gold import bars_since, closed_bars

TRAILING_BARS = 20
"""History length (closed bars of the symbol) behind `relative_log_volume`."""
MOMENTUM_BARS = 5
"""Look-back of `momentum` (closed bars of the symbol)."""

FEATURES: tuple[tuple[str, str], ...] = (
    ("bar_return", "close / open - 1: the bar's own return"),
    (
        "prev_return",
        "close / close of the symbol's previous closed bar - 1; 0 for the symbol's first bar",
    ),
    (
        "momentum",
        f"close / close {MOMENTUM_BARS} closed bars earlier - 1; 0 without that much history",
    ),
    (
        "close_vs_avg",
        "close / avg_price - 1: where the bar closed against its mean tick price (the seed's "
        "avg_price, made scale-free)",
    ),
    (
        "relative_volatility",
        "price_volatility / avg_price: the intra-bar standard deviation of price as a fraction "
        "of price; 0 for a single-tick bar",
    ),
    ("relative_range", "(high - low) / avg_price: the bar's range as a fraction of price"),
    (
        "relative_log_volume",
        f"ln(1 + total_volume) minus its mean over the symbol's previous {TRAILING_BARS} closed "
        "bars: volume against the symbol's own recent level; 0 for the symbol's first bar",
    ),
)
"""(name, description) of every model input, in the order the vector assembler uses them."""

FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
LABEL = "label"
"""1 when the symbol's next closed bar closes above this bar's close, 0 otherwise (ties are 0),
null for the symbol's latest closed bar (its next bar is not known yet)."""


def _by_symbol() -> WindowSpec:
    """Each symbol's bars in time order (built on use: a WindowSpec needs a running session)."""
    return Window.partitionBy("symbol").orderBy("window_start")


def _finite(value: Column) -> Column:
    """0.0 where a value is undefined (null, e.g. from a zero denominator, or NaN)."""
    return F.coalesce(F.nanvl(value, F.lit(0.0)), F.lit(0.0))


def _ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator, or 0.0 where a side is missing (no earlier bar) or 0."""
    # try_divide gives null, not an ANSI error, on a zero denominator; _finite makes that 0.
    return _finite(F.try_divide(numerator.cast("double"), denominator.cast("double")))


def bar_features(
    trailing_bars: int = TRAILING_BARS, momentum_bars: int = MOMENTUM_BARS
) -> Callable[[DataFrame], DataFrame]:
    """Add the `FEATURE_NAMES` columns (doubles, never null or NaN) to Gold bars.

    Needs symbol, window_start, open, high, low, close, avg_price, price_volatility and
    total_volume. Only the row's own bar and earlier bars of its symbol enter its features.
    """
    if trailing_bars < 1 or momentum_bars < 1:
        raise ValueError(
            f"trailing_bars and momentum_bars must be >= 1, got {trailing_bars}, {momentum_bars}"
        )
    trailing = _by_symbol().rowsBetween(-trailing_bars, -1)

    def _features(bars: DataFrame) -> DataFrame:
        close = F.col("close")
        log_volume = F.log1p(F.greatest(F.col("total_volume").cast("double"), F.lit(0.0)))
        prev_close = F.lag("close", 1).over(_by_symbol())
        past_close = F.lag("close", momentum_bars).over(_by_symbol())
        return bars.select(
            *bars.columns,
            _ratio(close - F.col("open"), F.col("open")).alias("bar_return"),
            _ratio(close - prev_close, prev_close).alias("prev_return"),
            _ratio(close - past_close, past_close).alias("momentum"),
            _ratio(close - F.col("avg_price"), F.col("avg_price")).alias("close_vs_avg"),
            _ratio(F.col("price_volatility"), F.col("avg_price")).alias("relative_volatility"),
            _ratio(F.col("high") - F.col("low"), F.col("avg_price")).alias("relative_range"),
            _finite(log_volume - F.avg(log_volume).over(trailing)).alias("relative_log_volume"),
        )

    return _features


def next_bar_label() -> Callable[[DataFrame], DataFrame]:
    """Add `label`: does the same symbol's next closed bar close above this one? (see LABEL)."""

    def _label(bars: DataFrame) -> DataFrame:
        next_close = F.lead("close", 1).over(_by_symbol())
        return bars.withColumn(
            LABEL,
            F.when(next_close.isNull(), F.lit(None))
            .when(next_close > F.col("close"), F.lit(1))
            .otherwise(F.lit(0))
            .cast("int"),
        )

    return _label


def labelled() -> Callable[[DataFrame], DataFrame]:
    """Only the rows with a label: every closed bar except each symbol's latest."""

    def _labelled(rows: DataFrame) -> DataFrame:
        return rows.where(F.col(LABEL).isNotNull())

    return _labelled


def unlabelled() -> Callable[[DataFrame], DataFrame]:
    """Only each symbol's latest closed bar: rows the model can score but not be judged on yet."""

    def _unlabelled(rows: DataFrame) -> DataFrame:
        return rows.where(F.col(LABEL).isNull())

    return _unlabelled


GOLD_INPUTS = (*BAR_PRICES, "avg_price", "price_volatility", "total_volume")
"""The Gold columns the features and the label are made of."""


def training_rows(
    watermark: datetime | None, since: datetime | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Gold bars -> closed bars with features and label, in one partition in a stable order.

    Closed means window_end <= watermark (`transforms.gold.closed_bars`); the filter comes first,
    so an open bar is neither a row nor anybody's next bar. Bars starting before `since` (the
    training window; None: none) are left out before the features, as if Gold began there.
    One partition sorted by (window_start, symbol) makes the rows, their order and their
    partitioning a function of the Gold version (and the window) alone, which is what makes a
    re-fit on the same version exact.
    """

    def _rows(gold: DataFrame) -> DataFrame:
        return (
            gold.transform(closed_bars(watermark))
            .transform(bars_since(since))
            .select(*GOLD_INPUTS)
            .transform(bar_features())
            .transform(next_bar_label())
            .coalesce(1)
            .sortWithinPartitions("window_start", "symbol")
        )

    return _rows
