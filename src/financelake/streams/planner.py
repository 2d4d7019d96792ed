"""How a micro-batch is routed, decided on plain data: no Spark, no I/O.

Each symbol has its own event-time clock: the latest event time of its ticks in Silver. A
tick is late when it is older than its own symbol's clock minus the allowed lateness, so no
symbol can make another symbol's ticks late (a backfilled symbol streams beside a live one).
A tick can repeat a tick already in Silver only if it is not late and not newer than its
symbol's clock; in a healthy feed each symbol's ticks arrive in order, so most batches need
no look at Silver at all, and no late or repeat flag either (the fast path).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

Clocks = Mapping[str, datetime]  # symbol -> latest event time of its ticks in Silver


@dataclass(frozen=True)
class SymbolSpan:
    """What one small aggregate tells about a symbol's valid ticks in a batch."""

    first: datetime
    last: datetime
    ticks: int
    distinct_ticks: int  # distinct (event time, price, volume): fewer when a tick is re-sent
    trade_ids: int = 0
    distinct_trade_ids: int = 0

    @property
    def repeats_itself(self) -> bool:
        return self.distinct_ticks < self.ticks or self.distinct_trade_ids < self.trade_ids


@dataclass(frozen=True)
class Plan:
    """What the handler does with one batch, and the clocks once it is written."""

    late_before: dict[str, datetime]  # symbols with late ticks -> their lateness threshold
    look_in_silver: dict[str, datetime]  # symbols that may repeat Silver -> from which time
    repeats_within: bool  # some valid tick appears twice in the batch
    clocks: dict[str, datetime]

    @property
    def ordered(self) -> bool:
        """Nothing to flag: every symbol's ticks are new, once each (no Silver read)."""
        return not (self.late_before or self.look_in_silver or self.repeats_within)


def plan_batch(clocks: Clocks, spans: Mapping[str, SymbolSpan], lateness: timedelta) -> Plan:
    """Route a batch whose valid ticks span `spans`, against Silver's `clocks` before it."""
    late_before: dict[str, datetime] = {}
    look_in_silver: dict[str, datetime] = {}
    after = dict(clocks)
    for symbol, span in spans.items():
        clock = clocks.get(symbol)
        if clock is None:  # a new symbol: nothing of it is late or in Silver yet
            after[symbol] = span.last
            continue
        threshold = clock - lateness
        if span.first < threshold:
            late_before[symbol] = threshold
        earliest_kept = max(span.first, threshold)
        if span.last >= threshold and earliest_kept <= clock:  # a kept tick may equal one
            look_in_silver[symbol] = earliest_kept
        # Late ticks are older than the clock and repeats equal a known time: only a kept,
        # new tick can move it, and the span's last tick is one whenever it is newer.
        after[symbol] = max(clock, span.last)
    repeats_within = any(span.repeats_itself for span in spans.values())
    return Plan(late_before, look_in_silver, repeats_within, after)
