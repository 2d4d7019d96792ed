"""The dashboard's Plotly figures, built from the frames `data` loads (no Streamlit, no I/O).

Figures that show a statistic show its interval: the AUC of each run with its 95% interval, and
each strategy's excess over its exposure-matched buy-and-hold with its 95% interval.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _layout(figure: go.Figure, title: str, height: int = 380) -> go.Figure:
    figure.update_layout(
        title=title,
        height=height,
        margin={"l": 40, "r": 40, "t": 50, "b": 30},
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def _candles(bars: pd.DataFrame, name: str, **style: object) -> go.Candlestick:
    return go.Candlestick(
        x=bars["window_start"],
        open=bars["open"],
        high=bars["high"],
        low=bars["low"],
        close=bars["close"],
        name=name,
        **style,
    )


def candlestick_figure(
    bars: pd.DataFrame,
    predictions: pd.DataFrame | None,
    symbol: str,
    open_bars: pd.DataFrame | None = None,
) -> go.Figure:
    """Gold candlesticks (closed bars, then the bar still open in grey) with the predicted
    probability of an up-move on a 0–1 right axis."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(_candles(bars, symbol), secondary_y=False)
    if open_bars is not None and not open_bars.empty:
        grey = {"line": {"color": "grey"}, "fillcolor": "lightgrey"}
        figure.add_trace(
            _candles(open_bars, f"{symbol}, open bar", increasing=grey, decreasing=grey),
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


def _error_bars(frame: pd.DataFrame, point: str, low: str, high: str) -> dict[str, object]:
    """Plotly error bars from interval columns (missing bounds: no bar for that point)."""
    if low not in frame.columns or high not in frame.columns:
        return {"visible": False}
    return {
        "type": "data",
        "symmetric": False,
        "array": (frame[high] - frame[point]).fillna(0).tolist(),
        "arrayminus": (frame[point] - frame[low]).fillna(0).tolist(),
    }


def auc_figure(runs: pd.DataFrame) -> go.Figure:
    """Test AUC of each successful training run over time, with its 95% interval, against the
    0.5 of a coin flip."""
    ok = runs.dropna(subset=["auc"])
    if "status" in ok.columns:
        ok = ok[ok["status"].fillna("ok") == "ok"]
    figure = go.Figure(
        go.Scatter(
            x=ok["trained_at"],
            y=ok["auc"],
            error_y=_error_bars(ok, "auc", "auc_ci_low", "auc_ci_high"),
            mode="lines+markers",
            name="test AUC (95% interval)",
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


def excess_figure(latest: pd.DataFrame) -> go.Figure:
    """Each symbol and strategy's excess over exposure-matched buy-and-hold with its 95%
    interval, against zero (an interval that spans zero shows no edge)."""
    shown = latest.dropna(subset=["excess_vs_exposure_matched"])
    labels = shown["symbol"].astype(str) + " · " + shown["strategy"].astype(str)
    figure = go.Figure(
        go.Scatter(
            x=labels,
            y=shown["excess_vs_exposure_matched"],
            error_y=_error_bars(
                shown, "excess_vs_exposure_matched", "excess_ci_low", "excess_ci_high"
            ),
            mode="markers",
            name="excess (95% interval)",
        )
    )
    figure.add_hline(y=0.0, line_dash="dash", line_color="grey")
    figure.update_yaxes(title_text="excess vs exposure-matched buy-and-hold", tickformat="+.1%")
    return _layout(figure, "Trader: excess with its 95% interval (latest run)", height=320)


def equity_figure(equity: pd.DataFrame, buy_hold: pd.DataFrame, symbol: str) -> go.Figure:
    """The trader's portfolio value against buying and holding, over the same bars."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=equity["window_start"], y=equity["equity"], mode="lines", name="q_learning agent"
        )
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
        for column, what, line in (
            ("inputRowsPerSecond", "input", None),
            ("processedRowsPerSecond", "processed", {"dash": "dot"}),
        ):
            figure.add_trace(
                go.Scatter(
                    x=part["timestamp"],
                    y=part[column],
                    mode=mode,
                    name=f"{query} {what} rows/s",
                    line=line,
                )
            )
    figure.update_yaxes(title_text="rows/s", rangemode="tozero")
    return _layout(figure, "Stream rates")


def quarantine_figure(counts: Mapping[str, int]) -> go.Figure:
    """Quarantined messages by reason code."""
    figure = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), name="messages"))
    figure.update_yaxes(title_text="messages")
    return _layout(figure, "Quarantine by reason code", height=320)


def tables_figure(tables: pd.DataFrame) -> go.Figure:
    """Rows per table (log scale: Bronze and the model tables differ by orders of magnitude)."""
    present = tables[tables["exists"]]
    figure = go.Figure(go.Bar(x=present["table"], y=present["rows"], name="rows"))
    figure.update_yaxes(title_text="rows", type="log", dtick=1)  # ticks at powers of ten
    return _layout(figure, "Rows per table", height=320)
