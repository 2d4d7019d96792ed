"""The Gold stream's stateful processor: each symbol's open bars in the RocksDB state store.

`transformWithStateInPandas` calls `handleInputRows` once per symbol that has new Silver ticks in
a micro-batch; the fold itself (transforms/open_bars.py) is pure pandas. Each call emits the bars
that symbol's clock closed (`closed` true, appended to Gold once) and its bars still open
(`closed` false, shown in gold_live). No timers: a symbol's clock moves only when its own ticks
arrive, which is exactly when this is called.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pandas as pd
from pyspark.sql import DataFrame, Row
from pyspark.sql.streaming.stateful_processor import (
    StatefulProcessor,
    StatefulProcessorHandle,
    TimerValues,
)
from pyspark.sql.types import BooleanType, DoubleType, LongType, StructField, StructType

from financelake.schemas import GOLD
from financelake.transforms.open_bars import (
    ACCUMULATOR_COLUMNS,
    TICK_COLUMNS,
    bar_rows,
    empty_accumulators,
    fold_ticks,
)

_INTEGRAL = {"window_start", "open_at", "close_at", "ticks", "volume"}
OPEN_BAR = StructType(
    [
        StructField(name, LongType() if name in _INTEGRAL else DoubleType(), False)
        for name in ACCUMULATOR_COLUMNS
    ]
)
BAR_OUTPUT = StructType([*GOLD.fields, StructField("closed", BooleanType(), False)])


class OpenBars(StatefulProcessor):
    """Per symbol: keep the open bars, emit the closed ones once and the open ones each batch."""

    def __init__(self, bar_seconds: int, watermark_seconds: int) -> None:
        self._bar_us = bar_seconds * 1_000_000
        self._watermark_us = watermark_seconds * 1_000_000

    def init(self, handle: StatefulProcessorHandle) -> None:
        self._open = handle.getListState("open_bars", OPEN_BAR)

    def handleInputRows(
        self, key: Any, rows: Iterator[pd.DataFrame] | Iterator[Row], timerValues: TimerValues
    ) -> Iterator[pd.DataFrame]:
        # transformWithStateInPandas hands over pandas frames (Row is the other API's type).
        ticks = pd.concat(list(cast("Iterator[pd.DataFrame]", rows)))
        symbol = str(key[0])
        held = list(self._open.get()) if self._open.exists() else []
        open_bars = (
            pd.DataFrame(held, columns=list(ACCUMULATOR_COLUMNS)) if held else empty_accumulators()
        )
        folded = fold_ticks(symbol, open_bars, ticks, self._bar_us, self._watermark_us)
        self._open.put(list(folded.still_open.itertuples(index=False, name=None)))
        closed = bar_rows(symbol, folded.closed, self._bar_us).assign(closed=True)
        still_open = bar_rows(symbol, folded.still_open, self._bar_us).assign(closed=False)
        yield pd.concat([closed, still_open], ignore_index=True)

    def close(self) -> None:
        pass


def fold_into_bars(silver: DataFrame, bar_seconds: int, watermark_seconds: int) -> DataFrame:
    """Silver ticks (a stream) -> bars closed by their symbol's clock, and bars still open."""
    return (
        silver.select("symbol", *TICK_COLUMNS)
        .groupBy("symbol")
        .transformWithStateInPandas(
            statefulProcessor=OpenBars(bar_seconds, watermark_seconds),
            outputStructType=BAR_OUTPUT,
            outputMode="Append",
            timeMode="None",
        )
    )
