"""The dashboard's data: loaders over the read layer (`financelake.lake`) and Plotly figures.

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
import plotly.graph_objects as go
import pyarrow.compute as pc
from plotly.subplots import make_subplots

from financelake.catalog import STREAM_QUERIES
from financelake.config import Settings
from financelake.lake.progress import read_history
from financelake.lake.read import read_frame, read_table

log = logging.getLogger(__name__)

MAX_BARS = 500  # candles per chart: enough to read, few enough to stay snappy
BAR_COLUMNS = ("symbol", "window_start", "open", "high", "low", "close", "total_volume")
RUN_COLUMNS = ("run_id", "trained_at", "status", "reason", "auc", "train_rows", "test_rows")
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
    """The rows (one per symbol) of the newest trader run in gold_rl."""
    if results.empty:
        return results
    newest = results.sort_values(["trained_at", "run_id"], kind="stable").iloc[-1]["run_id"]
    latest: pd.DataFrame = results[results["run_id"] == newest]
    return latest.sort_values("symbol").reset_index(drop=True)


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
    row = mine.iloc[0]
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


def human_age(seconds: float | None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 days ago' (or 'never')."""
    if seconds is None or pd.isna(seconds):
        return "never"
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds / 86400:.0f} days ago"


# Figures ---------------------------------------------------------------------------------
def _layout(figure: go.Figure, title: str, height: int = 380) -> go.Figure:
    figure.update_layout(
        title=title,
        height=height,
        margin={"l": 40, "r": 40, "t": 50, "b": 30},
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def candlestick_figure(
    bars: pd.DataFrame, predictions: pd.DataFrame | None, symbol: str
) -> go.Figure:
    """Gold candlesticks with the predicted probability of an up-move on a 0–1 right axis."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Candlestick(
            x=bars["window_start"],
            open=bars["open"],
            high=bars["high"],
            low=bars["low"],
            close=bars["close"],
            name=symbol,
        ),
        secondary_y=False,
    )
    if predictions is not None and not predictions.empty:
        start = bars["window_start"].min() if not bars.empty else None
        shown = predictions if start is None else predictions[predictions["window_start"] >= start]
        for kind, style in (("test", "lines"), ("forward", "markers")):
            part = shown[shown["kind"] == kind]
            if part.empty:
                continue
            figure.add_trace(
                go.Scatter(
                    x=part["window_start"],
                    y=part["probability_up"],
                    mode=style,
                    name=f"P(up), {kind}",
                    line={"width": 1.5},
                    marker={"size": 9, "symbol": "diamond"},
                ),
                secondary_y=True,
            )
    figure.update_yaxes(title_text="price", secondary_y=False)
    figure.update_yaxes(
        title_text="P(up)",
        range=[0, 1],
        tickmode="array",  # not synced to the price ticks, which would give odd values
        tickvals=[0, 0.25, 0.5, 0.75, 1],
        secondary_y=True,
        showgrid=False,
    )
    figure.update_layout(xaxis_rangeslider_visible=False)
    return _layout(figure, f"{symbol}: Gold bars and predicted up-probability", height=460)


def auc_figure(runs: pd.DataFrame) -> go.Figure:
    """Test AUC of each successful training run over time, against the 0.5 of a coin flip."""
    ok = runs.dropna(subset=["auc"])
    if "status" in ok.columns:
        ok = ok[ok["status"].fillna("ok") == "ok"]
    figure = go.Figure(
        go.Scatter(
            x=ok["trained_at"],
            y=ok["auc"],
            mode="lines+markers",
            name="test AUC",
            text=ok["run_id"].astype(str),
            hovertemplate="%{x}<br>AUC %{y:.3f}<br>run %{text}<extra></extra>",
        )
    )
    figure.add_hline(y=0.5, line_dash="dash", line_color="grey", annotation_text="chance")
    figure.update_yaxes(title_text="AUC", range=[0, 1])
    if len(ok) == 1:  # autorange would zoom onto a microsecond around the lone run
        moment = pd.Timestamp(ok["trained_at"].iloc[0])
        figure.update_xaxes(range=[moment - pd.Timedelta(hours=1), moment + pd.Timedelta(hours=1)])
    return _layout(figure, "Classifier AUC across training runs")


def equity_figure(equity: pd.DataFrame, buy_hold: pd.DataFrame, symbol: str) -> go.Figure:
    """The trader's portfolio value against buying and holding, over the same bars."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=equity["window_start"], y=equity["equity"], mode="lines", name="trader")
    )
    if not buy_hold.empty:
        figure.add_trace(
            go.Scatter(
                x=buy_hold["window_start"],
                y=buy_hold["buy_hold"],
                mode="lines",
                name="buy and hold",
                line={"dash": "dash"},
            )
        )
    figure.update_yaxes(title_text="portfolio value")
    return _layout(figure, f"{symbol}: trader equity vs buy-and-hold (latest run)")


def rates_figure(rates: pd.DataFrame) -> go.Figure:
    """Input and processing rates of each stream, batch by batch."""
    figure = go.Figure()
    for query, part in rates.groupby("query", sort=True):
        mode = "lines" if len(part) > 30 else "lines+markers"  # a lone batch is still seen
        figure.add_trace(
            go.Scatter(
                x=part["timestamp"],
                y=part["inputRowsPerSecond"],
                mode=mode,
                name=f"{query} input rows/s",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=part["timestamp"],
                y=part["processedRowsPerSecond"],
                mode=mode,
                name=f"{query} processed rows/s",
                line={"dash": "dot"},
            )
        )
    figure.update_yaxes(title_text="rows/s", rangemode="tozero")
    return _layout(figure, "Stream rates")


def quarantine_figure(counts: Mapping[str, int]) -> go.Figure:
    """Quarantined messages by reason."""
    figure = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), name="messages"))
    figure.update_yaxes(title_text="messages")
    return _layout(figure, "Quarantine by reason", height=320)


def tables_figure(tables: pd.DataFrame) -> go.Figure:
    """Rows per table (log scale: Bronze and the model tables differ by orders of magnitude)."""
    present = tables[tables["exists"]]
    figure = go.Figure(go.Bar(x=present["table"], y=present["rows"], name="rows"))
    figure.update_yaxes(title_text="rows", type="log", dtick=1)  # ticks at powers of ten
    return _layout(figure, "Rows per table", height=320)
