"""What the ingest stream remembers between micro-batches about Silver's event times.

The watermark is the latest event time in Silver minus the allowed lateness. A new tick can
repeat a tick already in Silver only if it is not late and not newer than the latest Silver
tick of its own symbol; in a healthy feed each symbol's ticks arrive in order, so most batches
need no look at Silver at all. Keeping the latest time per symbol (for symbols with ticks at or
after the watermark) lets a batch skip that Silver read, which is most of its fixed cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from financelake.transforms.gold import watermark_from

Span = tuple[datetime, datetime]  # first and last event time of a symbol's kept ticks in a batch


@dataclass
class EventTimes:
    """Latest event time in Silver, overall and per symbol (symbols with ticks at or after the
    watermark only: older ticks cannot be repeated without being late)."""

    lateness: timedelta
    latest: datetime | None = None
    by_symbol: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def of(
        cls, lateness: timedelta, latest: datetime | None, by_symbol: Iterable[tuple[str, datetime]]
    ) -> EventTimes:
        times = cls(lateness, latest, dict(by_symbol))
        times._forget_before_watermark()
        return times

    @property
    def watermark(self) -> datetime | None:
        return watermark_from(self.latest, self.lateness.total_seconds())

    def may_repeat(self, spans: Mapping[str, Span]) -> list[str]:
        """Symbols of a batch with a tick that could already be in Silver (checked there)."""
        watermark = self.watermark
        suspects = []
        for symbol, (first, _) in spans.items():
            latest = self.by_symbol.get(symbol)
            earliest_kept = first if watermark is None else max(first, watermark)
            if latest is not None and earliest_kept <= latest:
                suspects.append(symbol)
        return sorted(suspects)

    def advance(self, spans: Mapping[str, Span]) -> None:
        """Take in a written batch. Late and repeated ticks in `spans` change nothing: they
        are older than the watermark or equal to a time already known."""
        for symbol, (_, last) in spans.items():
            if symbol not in self.by_symbol or last > self.by_symbol[symbol]:
                self.by_symbol[symbol] = last
            if self.latest is None or last > self.latest:
                self.latest = last
        self._forget_before_watermark()

    def _forget_before_watermark(self) -> None:
        watermark = self.watermark
        if watermark is not None:
            self.by_symbol = {s: t for s, t in self.by_symbol.items() if t >= watermark}
