"""The Streamlit page: `streamlit run app.py -- [--refresh SECONDS]` (see `launch.serve`).

Thin on purpose: settings come from FINANCELAKE_* variables, data and figures from `data`,
and this script only lays them out. The live part re-runs itself every few seconds as a
fragment; a section whose data is missing says so instead of failing.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import streamlit as st

from financelake.config import Settings
from financelake.dashboard import data, figures
from financelake.lake.values import parse_time
from financelake.status import collect_status

log = logging.getLogger("financelake.dashboard")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="financelake-dashboard")
    parser.add_argument("--refresh", type=float, default=5.0, help="seconds between refreshes")
    return parser.parse_known_args()[0]


@contextmanager
def _section(title: str) -> Iterator[None]:
    """A titled section; an unexpected error is shown in place, not as a crashed page."""
    st.subheader(title)
    try:
        yield
    except Exception as exc:
        log.exception("dashboard section %r failed", title)
        st.error(f"Could not show {title.lower()}: {type(exc).__name__}: {exc}")


def _market(settings: Settings, runs: pd.DataFrame | None, market: dict[str, Any]) -> str | None:
    """Candlesticks (closed bars, and the bar still open), predictions and the event-time clock
    of the chosen symbol; returns that symbol."""
    symbols = data.gold_symbols(settings)
    if symbols is None:
        st.info("No Gold table yet: start the pipeline (`financelake run`) to build bars.")
        return None
    if not symbols:
        st.info("The Gold table is empty: bars appear once a bar interval has closed.")
        return None
    symbol = st.selectbox("Symbol", symbols, key="symbol")
    if symbol is None:
        return None
    bars = data.load_bars(settings, symbol)
    predictions = data.load_predictions(settings, symbol, runs)
    if bars is None or bars.empty:
        st.info(f"No Gold bars for {symbol} yet.")
        return symbol
    open_bars = data.live_bars_frame(market.get("live_bars") or [], symbol)
    st.plotly_chart(figures.candlestick_figure(bars, predictions, symbol, open_bars), key="candles")
    clock = market.get("clocks", {}).get(symbol)
    st.caption(
        f"{symbol}: event-time clock (newest tick in Silver) {_when(clock)}"
        + ("" if open_bars.empty else f"; open bar from {_when(open_bars['window_start'].iloc[0])}")
    )
    if predictions is None:
        st.info("No predictions yet (gold_predictions is missing): train with `financelake train`.")
    elif predictions.empty:
        st.info(f"No predictions for {symbol} yet.")
    return symbol


def _classifier(runs: pd.DataFrame | None) -> None:
    if runs is None or runs.empty:
        st.info("No training runs yet (gold_ml is missing or empty).")
        return
    scored = runs.dropna(subset=["auc"])
    if scored.empty:
        reasons = ", ".join(sorted({str(r) for r in runs.get("reason", pd.Series()).dropna()}))
        st.info(f"{len(runs)} training runs, none with an AUC yet. {reasons}".strip())
        return
    st.plotly_chart(figures.auc_figure(runs), key="auc")
    latest = scored.iloc[-1]
    st.caption(
        f"{len(runs)} runs; latest AUC {latest['auc']:.3f}, "
        + _auc_interval(latest.get("auc_ci_low"), latest.get("auc_ci_high"))
        + _p_value(latest.get("auc_p_value"))
    )


def _trader(settings: Settings, symbol: str | None) -> None:
    if symbol is None:
        st.info("The trader's results appear once there are Gold bars and a trader run.")
        return
    loaded = data.load_trader(settings, symbol)
    if loaded is None:
        st.info("No trader runs yet (gold_rl is missing or empty).")
        return
    results, equity, buy_hold = loaded
    if equity.empty:
        st.info(f"The latest trader run has no equity curve for {symbol}.")
    else:
        st.plotly_chart(figures.equity_figure(equity, buy_hold, symbol), key="equity")
    st.dataframe(
        data.trader_table(results),
        hide_index=True,
        column_config={
            "agent_return": st.column_config.NumberColumn("return", format="percent"),
            "buy_hold_return": st.column_config.NumberColumn("buy & hold", format="percent"),
            "exposure": st.column_config.NumberColumn("exposure", format="percent"),
            "excess": st.column_config.TextColumn("excess vs exposure-matched [95% CI]"),
            "never_traded": st.column_config.CheckboxColumn("never traded"),
        },
    )
    excess = results.get("excess_vs_exposure_matched")
    if excess is not None and excess.notna().any():
        st.plotly_chart(figures.excess_figure(results), key="excess")


def _health(settings: Settings, report: dict[str, Any]) -> None:
    streams = report["streams"]
    columns = st.columns(len(streams))
    for column, (query, stream) in zip(columns, streams.items(), strict=True):
        with column:
            if stream["source"] is None:
                st.info(f"Stream {query!r} has not reported yet.")
                continue
            lag = stream["lag"]
            rate, processed = stream["input_rows_per_s"], stream["processed_rows_per_s"]
            st.metric(
                f"{query}: lag ({stream['lag_unit'] or '?'})",
                "?" if lag is None else f"{lag:,}",
                help=stream["lag_note"],
            )
            st.caption(
                f"last batch {stream['batch_id']} · {data.human_age(stream['last_batch_age_s'])} · "
                + ("rate unknown" if rate is None else f"{rate:,.0f} rows/s in")
                + ("" if processed is None else f" · {processed:,.0f} rows/s processed")
            )
    kafka = report["kafka"]
    if not kafka["reachable"]:
        st.warning(f"Kafka: {kafka['error']}")
    st.caption(_service_line(report["service"]) + " · " + _maintenance_line(report["maintenance"]))
    addresses = data.service_addresses(report["service"])
    if addresses:
        st.caption(addresses)

    rates = data.load_rates(settings)
    if rates.empty:
        st.info("No stream progress yet (the service writes it under _status/streams/).")
    else:
        st.plotly_chart(figures.rates_figure(rates), key="rates")

    left, right = st.columns(2)
    with left:
        counts = report["quarantine_by_reason_code"]
        if counts:
            st.plotly_chart(figures.quarantine_figure(counts), key="quarantine")
        else:
            st.info("Nothing quarantined.")
    with right:
        tables = data.tables_frame(report)
        if tables["exists"].any():
            st.plotly_chart(figures.tables_figure(tables), key="tables")
        missing = tables.loc[~tables["exists"], "table"].tolist()
        if missing:
            st.info("Missing tables: " + ", ".join(missing))
    st.dataframe(data.tables_frame(report), hide_index=True)


def _when(text: Any) -> str:
    moment = parse_time(text)
    return "at an unknown time" if moment is None else f"at {moment:%Y-%m-%d %H:%M} UTC"


def _auc_interval(low: Any, high: Any) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "no interval"
    return f"95% interval [{low:.3f}, {high:.3f}]"


def _p_value(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f", p = {value:.3g} against 0.5"


def _service_line(service: dict[str, Any] | None) -> str:
    if service is None:
        return "service: has not run on this lake"
    state = service["state"]
    what = f"waiting for Kafka: {service['detail']}" if state == "waiting" else state
    return f"service: {what} since {data.human_age(service['since_age_s'])}"


def _maintenance_line(maintenance: dict[str, Any]) -> str:
    if maintenance.get("error"):
        return f"maintenance: unreadable ({maintenance['error']})"
    if not maintenance.get("runs"):
        return "maintenance: no run yet"
    failed = ", ".join(maintenance["failed_tables"])
    return (
        f"maintenance: last run {_when(maintenance['finished_at'])}, {maintenance['status']}"
        + (f" ({failed})" if failed else "")
        + f", {maintenance['files_vacuumed'] or 0:,} files vacuumed"
    )


def live(settings: Settings) -> None:
    """Everything that changes with the lake, re-run by Streamlit every refresh."""
    runs: pd.DataFrame | None = None
    symbol: str | None = None
    report = collect_status(settings, kafka_timeout_s=1.0)
    with _section("Market"):
        runs = data.load_runs(settings)
        symbol = _market(settings, runs, report["market"])
    left, right = st.columns(2)
    with left, _section("Classifier"):
        _classifier(runs)
    with right, _section("Trader"):
        _trader(settings, symbol)
    with _section("Pipeline health"):
        _health(settings, report)


def main() -> None:
    args = _arguments()
    settings = Settings()
    st.set_page_config(page_title="FinanceLake", layout="wide")
    st.title("FinanceLake")
    st.caption(
        f"lake {settings.lake_root} · topic {settings.topic} · refreshes every {args.refresh:g} s"
    )
    st.fragment(live, run_every=args.refresh)(settings)


main()
