"""The market as the lake sees it now: each symbol's event-time clock (its newest Silver tick)
and the bar still open per symbol (gold_live, replaced by every Gold batch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from financelake.config import Settings
from financelake.lake.read import event_clocks, read_table
from financelake.lake.values import json_ready
from financelake.schemas import BAR_PRICES

LIVE_COLUMNS = (*BAR_PRICES, "total_volume", "tick_count", "last_tick_at")


@dataclass(frozen=True)
class MarketStatus:
    """Per-symbol clocks and open bars (a section that cannot be read gives its error)."""

    clocks: dict[str, datetime] = field(default_factory=dict)
    live_bars: list[dict[str, Any]] = field(default_factory=list)  # LIVE_COLUMNS per open bar
    error: str | None = None


def market_status(settings: Settings) -> MarketStatus:
    """Clocks from Silver and open bars from gold_live, by symbol then bar start."""
    try:
        clocks = event_clocks(settings)
        live = read_table(settings.table_path("gold_live"), LIVE_COLUMNS)
    except Exception as exc:
        return MarketStatus(error=f"{type(exc).__name__}: {exc}")
    rows = [] if live is None else live.to_pylist()
    rows.sort(key=lambda row: (str(row.get("symbol")), str(row.get("window_start"))))
    bars = [{key: json_ready(row.get(key)) for key in LIVE_COLUMNS} for row in rows]
    return MarketStatus(clocks=clocks, live_bars=bars)
