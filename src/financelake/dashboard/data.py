"""The dashboard's data: loaders over the read layer (`financelake.lake`); figures are in
`figures`.

Nothing here imports Streamlit, so every function can be tested on small frames or tiny
tables. Loaders return None when a table does not exist yet (the page then says what is
missing) and an empty frame when it exists but holds nothing relevant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from financelake.catalog import STREAM_QUERIES
from financelake.config import Settings
from financelake.lake.progress import read_history
from financelake.lake.read import read_frame, read_table
from financelake.status.results import MODEL_COLUMNS, STRATEGY_ORDER

log = logging.getLogger(__name__)

MAX_BARS = 500  # candles per chart: enough to read, few enough to stay snappy
BAR_COLUMNS = ("symbol", "window_start", "open", "high", "low", "close", "total_volume")
RUN_COLUMNS = MODEL_COLUMNS  # the classifier runs, as the status report reads them
TRADER_COLUMNS = (
    "symbol",
    "strategy",
    "agent_return",
    "buy_hold_return",
    "exposure",
    "excess",
    "trades",
    "never_traded",
    "status",
)
"""The trader table's columns (see `trader_table`)."""
RATE_COLUMNS = (
    "timestamp",
    "batchId",
    "numInputRows",
    "inputRowsPerSecond",
    "processedRowsPerSecond",
)


# Loaders ---------------------------------------------------------------------------------
def gold_symbols(settings: Settings) -> list[str] | None:
    """The symbols that have Gold bars, sorted; None if there is no Gold table yet."""
    table = read_table(settings.table_path("gold"), ["symbol"])
    if table is None:
        return None
    if "symbol" not in table.column_names:
        return []
    return sorted(str(s) for s in pc.unique(table["symbol"]).to_pylist() if s is not None)


def load_bars(
    settings: Settings,
    symbol: str,
    *,
    start: datetime | pd.Timestamp | None = None,
    end: datetime | pd.Timestamp | None = None,
    max_bars: int | None = MAX_BARS,
) -> pd.DataFrame | None:
    """One symbol's Gold bars in time order (the newest `max_bars`, within [start, end])."""
    frame = read_frame(settings, "gold", BAR_COLUMNS, [("symbol", "=", symbol)])
    if frame is None:
        return None
    frame = frame.sort_values("window_start", kind="stable")
    if start is not None:
        frame = frame[frame["window_start"] >= pd.Timestamp(start)]
    if end is not None:
        frame = frame[frame["window_start"] <= pd.Timestamp(end)]
    if max_bars is not None:
        frame = frame.tail(max_bars)
    return frame.reset_index(drop=True)


def live_bars_frame(live_bars: Sequence[Mapping[str, Any]], symbol: str) -> pd.DataFrame:
    """`symbol`'s open bars (the status report's `market.live_bars`) as a frame like
    `load_bars`', oldest first; empty when it has none."""
    mine = [bar for bar in live_bars if bar.get("symbol") == symbol]
    frame = pd.DataFrame(mine, columns=list(BAR_COLUMNS)).astype({"total_volume": "float"})
    frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)
    return frame.sort_values("window_start", kind="stable").reset_index(drop=True)


def load_runs(settings: Settings) -> pd.DataFrame | None:
    """The classifier's training runs (gold_ml), oldest first."""
    runs = read_frame(settings, "gold_ml", RUN_COLUMNS)
    if runs is None:
        return None
    return runs.sort_values("trained_at", kind="stable").reset_index(drop=True)


def run_order(runs: pd.DataFrame | None) -> dict[str, int]:
    """run_id -> rank by training time (higher is newer)."""
    if runs is None or runs.empty or "run_id" not in runs.columns:
        return {}
    ordered = runs.sort_values("trained_at", kind="stable") if "trained_at" in runs else runs
    return {str(run): rank for rank, run in enumerate(ordered["run_id"])}


def prediction_line(
    predictions: pd.DataFrame, symbol: str, order: Mapping[str, int]
) -> pd.DataFrame:
    """For each of `symbol`'s bars, the up-probability from the newest run that scored it.

    Runs overlap in time, so one line per run would pile up; the newest model's view of each
    bar is what the page shows. Runs missing from `order` rank below known ones, by id.
    """
    columns = ["window_start", "probability_up", "kind", "run_id"]
    if predictions.empty:
        return pd.DataFrame(columns=columns)
    mine = predictions[predictions["symbol"] == symbol].copy()
    if mine.empty:
        return pd.DataFrame(columns=columns)
    unknown = sorted(set(mine["run_id"].astype(str)) - set(order))
    ranks = {run: i - len(unknown) for i, run in enumerate(unknown)} | dict(order)
    mine["_rank"] = mine["run_id"].astype(str).map(ranks)
    mine = mine.sort_values(["window_start", "_rank"], kind="stable")
    latest = mine.drop_duplicates("window_start", keep="last")
    if "kind" not in latest.columns:
        latest = latest.assign(kind="test")
    return latest[columns].reset_index(drop=True)


def load_predictions(
    settings: Settings, symbol: str, runs: pd.DataFrame | None = None
) -> pd.DataFrame | None:
    """`symbol`'s up-probability line (see `prediction_line`); None if there are no predictions."""
    columns = ("run_id", "symbol", "window_start", "probability_up", "kind")
    predictions = read_frame(settings, "gold_predictions", columns, [("symbol", "=", symbol)])
    if predictions is None:
        return None
    return prediction_line(predictions, symbol, run_order(runs))


def latest_trader_run(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of the newest trader run in gold_rl: one per symbol and strategy, by symbol,
    the agent (q_learning) before the classifier's signal."""
    if results.empty:
        return results
    newest = results.sort_values(["trained_at", "run_id"], kind="stable").iloc[-1]["run_id"]
    latest: pd.DataFrame = results[results["run_id"] == newest].copy()
    if "strategy" not in latest.columns:
        latest["strategy"] = None
    rank = latest["strategy"].map({name: i for i, name in enumerate(STRATEGY_ORDER)})
    latest = latest.assign(_rank=rank.fillna(len(STRATEGY_ORDER)))
    ordered = latest.sort_values(["symbol", "_rank", "strategy"], kind="stable")
    return ordered.drop(columns="_rank").reset_index(drop=True)


def interval_text(point: Any, low: Any, high: Any) -> str:
    """'+1.20% [-0.40%, +2.80%]': a figure with its 95% interval ('-' without a figure)."""
    if point is None or pd.isna(point):
        return "-"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{point:+.2%} [no interval]"
    return f"{point:+.2%} [{low:+.2%}, {high:+.2%}]"


def trader_table(latest: pd.DataFrame) -> pd.DataFrame:
    """The latest run's rows as the page shows them (`TRADER_COLUMNS`): `excess` is the excess
    over exposure-matched buy-and-hold with its 95% interval, as text."""
    frame = latest.copy()
    for name in (*TRADER_COLUMNS, "excess_vs_exposure_matched", "excess_ci_low", "excess_ci_high"):
        if name not in frame.columns:
            frame[name] = None
    frame["excess"] = [
        interval_text(point, low, high)
        for point, low, high in zip(
            frame["excess_vs_exposure_matched"],
            frame["excess_ci_low"],
            frame["excess_ci_high"],
            strict=True,
        )
    ]
    return frame[list(TRADER_COLUMNS)].reset_index(drop=True)


def buy_hold_curve(
    equity: pd.DataFrame, bars: pd.DataFrame, initial_capital: float, fee_rate: float
) -> pd.DataFrame:
    """What buying at the first bar and holding would be worth at each bar of `equity`.

    initial_capital × (1 − fee_rate) × close / first close, on the Gold closes of the same
    bars: the benchmark pays one entry fee, as a real buy would.
    """
    columns = ["window_start", "buy_hold"]
    if equity.empty or bars.empty:
        return pd.DataFrame(columns=columns)
    closes = bars[["window_start", "close"]].drop_duplicates("window_start")
    joined = (
        equity[["window_start"]]
        .drop_duplicates()
        .merge(closes, on="window_start", how="inner")
        .sort_values("window_start")
    )
    if joined.empty:
        return pd.DataFrame(columns=columns)
    first = float(joined["close"].iloc[0])
    joined["buy_hold"] = initial_capital * (1.0 - fee_rate) * joined["close"] / first
    return joined[columns].reset_index(drop=True)


def load_trader(
    settings: Settings, symbol: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """(latest run's results per symbol, `symbol`'s equity curve, its buy-and-hold curve).

    None if the trader has not written results yet; the curves are empty when the latest run
    did not trade `symbol`.
    """
    results = read_frame(settings, "gold_rl")
    if results is None or results.empty:
        return None
    latest = latest_trader_run(results)
    run_id = latest["run_id"].iloc[0]
    empty = pd.DataFrame(columns=["window_start", "equity"])
    equity = read_frame(
        settings, "gold_rl_equity", filters=[("run_id", "=", str(run_id)), ("symbol", "=", symbol)]
    )
    if equity is None:
        return latest, empty, pd.DataFrame(columns=["window_start", "buy_hold"])
    equity = equity.sort_values("window_start")
    mine = latest[latest["symbol"] == symbol]
    if equity.empty or mine.empty:
        return latest, equity, pd.DataFrame(columns=["window_start", "buy_hold"])
    row = mine.iloc[0]  # the agent's row (latest_trader_run puts it first): it drew the curve
    capital = float(row.get("initial_capital", settings.initial_capital))
    fee = float(row.get("fee_rate", settings.fee_rate))
    bars = load_bars(
        settings,
        symbol,
        start=equity["window_start"].min(),
        end=equity["window_start"].max(),
        max_bars=None,
    )
    hold = buy_hold_curve(equity, bars if bars is not None else pd.DataFrame(), capital, fee)
    return latest, equity.reset_index(drop=True), hold


def load_rates(settings: Settings, queries: Sequence[str] = STREAM_QUERIES) -> pd.DataFrame:
    """Per-batch rates of each stream from its progress history, with a `query` column."""
    frames = []
    for query in queries:
        batches = read_history(settings.lake_root, query)
        if batches:
            frames.append(rates_frame([batch.to_json() for batch in batches], query))
    if not frames:
        return pd.DataFrame(columns=["query", *RATE_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def rates_frame(rows: Sequence[Mapping[str, Any]], query: str) -> pd.DataFrame:
    """Progress lines of one stream (`BatchLine.to_json` form) as a typed frame (missing
    figures become NaN)."""
    frame = pd.DataFrame([{c: row.get(c) for c in RATE_COLUMNS} for row in rows])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
    for name in RATE_COLUMNS[1:]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    frame.insert(0, "query", query)
    return frame.dropna(subset=["timestamp"]).sort_values("timestamp").reset_index(drop=True)


def tables_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """The status report's tables as rows: table, exists, rows, version, last commit."""
    records = [
        {
            "table": name,
            "exists": bool(info.get("exists")),
            "rows": int(info.get("rows") or 0),
            "version": info.get("version"),
            "last_commit": info.get("last_commit"),
        }
        for name, info in report.get("tables", {}).items()
    ]
    return pd.DataFrame(records, columns=["table", "exists", "rows", "version", "last_commit"])


def service_addresses(service: Mapping[str, Any] | None) -> str:
    """A running service's Spark UI and metrics endpoint as Markdown links ('' unless running;
    the service records both in its state file, see `service_state`)."""
    if not service or service.get("state") != "running":
        return ""
    parts = []
    for label, key in (("Spark UI", "spark_ui_url"), ("metrics", "metrics_url")):
        url = service.get(key)
        parts.append(f"[{label}]({url})" if url else f"{label} off")
    return " · ".join(parts)


def human_age(seconds: float | None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 days ago' (or 'never')."""
    if seconds is None or pd.isna(seconds):
        return "never"
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds / 86400:.0f} days ago"
