"""The dashboard's pure loaders and figure builders, on small frames and tiny delta-rs tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from deltalake import write_deltalake

from financelake.config import Settings
from financelake.dashboard import data, figures

T0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


def _minute(i: int) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(minutes=i))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake_root=str(tmp_path / "lake"), bootstrap_servers="127.0.0.1:1")


def _bars(symbol: str, closes: list[float], start: int = 0) -> pd.DataFrame:
    starts = [_minute(start + i) for i in range(len(closes))]
    return pd.DataFrame(
        {
            "symbol": symbol,
            "window_start": starts,
            "window_end": [s + pd.Timedelta(minutes=1) for s in starts],
            "open": closes,
            "high": [c + 1 for c in closes],
            "low": [c - 1 for c in closes],
            "close": closes,
            "total_volume": [100] * len(closes),
            "date": [s.date() for s in starts],
        }
    )


def _write_gold(settings: Settings) -> None:
    gold = pd.concat([_bars("MSFT", [400.0, 401.0, 402.0]), _bars("AAPL", [10.0, 11.0, 12.0, 9.0])])
    # written in an order unlike time order, across two commits
    write_deltalake(settings.table_path("gold"), gold.iloc[::-1], partition_by=["date"])


# Loaders on Delta tables -------------------------------------------------------------------
def test_missing_tables_load_as_none(settings: Settings) -> None:
    assert data.gold_symbols(settings) is None
    assert data.load_bars(settings, "AAPL") is None
    assert data.load_runs(settings) is None
    assert data.load_predictions(settings, "AAPL") is None
    assert data.load_trader(settings, "AAPL") is None
    assert data.load_rates(settings).empty


def test_gold_bars_load_per_symbol_in_time_order(settings: Settings) -> None:
    _write_gold(settings)

    assert data.gold_symbols(settings) == ["AAPL", "MSFT"]
    bars = data.load_bars(settings, "AAPL")
    assert bars is not None
    assert bars["close"].tolist() == [10.0, 11.0, 12.0, 9.0]
    assert str(bars["window_start"].dt.tz) == "UTC"
    newest = data.load_bars(settings, "AAPL", max_bars=2)
    assert newest is not None and newest["close"].tolist() == [12.0, 9.0]
    window = data.load_bars(settings, "AAPL", start=_minute(1), end=_minute(2), max_bars=None)
    assert window is not None and window["close"].tolist() == [11.0, 12.0]


def test_predictions_show_the_newest_run_that_scored_each_bar(settings: Settings) -> None:
    write_deltalake(
        settings.table_path("gold_ml"),
        pd.DataFrame(
            {
                "run_id": ["late-id", "early-id"],  # ids do not sort by time; trained_at does
                "trained_at": [T0 + timedelta(hours=2), T0 + timedelta(hours=1)],
                "status": ["ok", "ok"],
                "auc": [0.6, 0.55],
            }
        ),
    )
    write_deltalake(
        settings.table_path("gold_predictions"),
        pd.DataFrame(
            {
                "run_id": ["early-id", "early-id", "late-id", "late-id", "late-id"],
                "symbol": ["AAPL", "AAPL", "AAPL", "AAPL", "MSFT"],
                "window_start": [_minute(0), _minute(1), _minute(1), _minute(2), _minute(1)],
                "probability_up": [0.1, 0.2, 0.3, 0.4, 0.9],
                "prediction": [0, 0, 0, 0, 1],
                "label": [0, 1, 1, None, 1],
                "kind": ["test", "test", "test", "forward", "test"],
            }
        ),
    )
    runs = data.load_runs(settings)
    assert runs is not None and runs["run_id"].tolist() == ["early-id", "late-id"]

    line = data.load_predictions(settings, "AAPL", runs)

    assert line is not None
    assert line["probability_up"].tolist() == [0.1, 0.3, 0.4]
    assert line["kind"].tolist() == ["test", "test", "forward"]


def test_prediction_line_ranks_runs_unknown_to_gold_ml_below_known_ones() -> None:
    predictions = pd.DataFrame(
        {
            "run_id": ["orphan", "known"],
            "symbol": ["AAPL", "AAPL"],
            "window_start": [_minute(0), _minute(0)],
            "probability_up": [0.9, 0.2],
            "kind": ["test", "test"],
        }
    )

    line = data.prediction_line(predictions, "AAPL", {"known": 0})

    assert line["run_id"].tolist() == ["known"]
    assert data.prediction_line(predictions, "MSFT", {}).empty


def test_the_trader_view_is_the_latest_run_against_buy_and_hold(settings: Settings) -> None:
    _write_gold(settings)
    later = T0 + timedelta(hours=1)
    results = pd.DataFrame(
        {
            "run_id": ["old", "new", "new", "new", "new"],
            "symbol": ["AAPL", "MSFT", "MSFT", "AAPL", "AAPL"],
            "strategy": ["q_learning", "classifier", "q_learning", "classifier", "q_learning"],
            "trained_at": [T0, later, later, later, later],
            "initial_capital": [1_000.0, 2_000.0, 2_000.0, 2_000.0, 2_000.0],
            "fee_rate": [0.0, 0.01, 0.01, 0.01, 0.01],
            "final_portfolio_value": [900.0, 2_100.0, 2_000.0, 2_050.0, 2_200.0],
            "agent_return": [-0.1, 0.05, 0.0, 0.025, 0.1],
            "buy_hold_return": [0.0, 0.005, 0.005, -0.1, -0.1],
            "exposure": [0.5, 0.4, 0.0, 0.3, 0.6],
            "excess_vs_exposure_matched": [-0.1, 0.048, 0.0, 0.055, 0.16],
            "excess_ci_low": [-0.2, 0.01, 0.0, None, 0.012],
            "excess_ci_high": [0.0, 0.09, 0.0, None, 0.3],
            "trades": [2, 3, 0, 4, 5],
            "never_traded": [False, False, True, False, False],
            "status": ["ok"] * 5,
        }
    )
    write_deltalake(settings.table_path("gold_rl"), results)
    equity = pd.DataFrame(
        {
            "run_id": ["old"] * 2 + ["new"] * 3,
            "symbol": ["AAPL"] * 5,
            "window_start": [_minute(0), _minute(1), _minute(1), _minute(2), _minute(3)],
            "action": [0, 1, 1, 0, 2],
            "shares": [0.0] * 5,
            "cash": [0.0] * 5,
            "equity": [1_000.0, 990.0, 2_000.0, 2_100.0, 2_200.0],
        }
    )
    write_deltalake(settings.table_path("gold_rl_equity"), equity)

    loaded = data.load_trader(settings, "AAPL")

    assert loaded is not None
    latest, curve, hold = loaded
    assert list(zip(latest["symbol"], latest["strategy"], strict=True)) == [
        ("AAPL", "q_learning"),
        ("AAPL", "classifier"),
        ("MSFT", "q_learning"),
        ("MSFT", "classifier"),
    ]
    assert set(latest["run_id"]) == {"new"}
    table = data.trader_table(latest)
    assert list(table.columns) == list(data.TRADER_COLUMNS)
    assert table["excess"].tolist() == [
        "+16.00% [+1.20%, +30.00%]",
        "+5.50% [no interval]",
        "+0.00% [+0.00%, +0.00%]",
        "+4.80% [+1.00%, +9.00%]",
    ]
    assert table["never_traded"].tolist() == [False, False, True, False]
    assert curve["equity"].tolist() == [2_000.0, 2_100.0, 2_200.0]
    # closes 11, 12, 9 from the first bar of the run, one 1 % fee paid on entry
    assert hold["buy_hold"].tolist() == pytest.approx(
        [1_980.0, 1_980.0 * 12 / 11, 1_980.0 * 9 / 11]
    )
    _, msft_curve, msft_hold = data.load_trader(settings, "MSFT") or (None, None, None)
    assert msft_curve is not None and msft_curve.empty
    assert msft_hold is not None and msft_hold.empty


def test_buy_and_hold_uses_only_bars_of_the_equity_window() -> None:
    equity = pd.DataFrame({"window_start": [_minute(1), _minute(2)], "equity": [1.0, 1.0]})
    bars = _bars("AAPL", [50.0, 100.0, 150.0, 200.0])

    hold = data.buy_hold_curve(equity, bars, initial_capital=100.0, fee_rate=0.0)

    assert hold["buy_hold"].tolist() == [100.0, 150.0]
    assert data.buy_hold_curve(equity.iloc[:0], bars, 100.0, 0.0).empty


def test_rates_come_from_the_progress_lines_skipping_a_torn_last_line(settings: Settings) -> None:
    folder = Path(settings.lake_root) / "_status" / "streams"
    folder.mkdir(parents=True)
    lines = [
        json.dumps(
            {
                "timestamp": f"2026-01-02T09:00:0{i}.000Z",
                "batchId": i,
                "numInputRows": 10 * i,
                "inputRowsPerSecond": 5.0 * i,
                "processedRowsPerSecond": 50.0,
                "triggerMs": 200,
            }
        )
        for i in range(3)
    ]
    (folder / "ingest.jsonl").write_text("\n".join(lines) + '\n{"timestamp": "2026-01-0')

    rates = data.load_rates(settings)

    assert rates["query"].tolist() == ["ingest"] * 3
    assert rates["inputRowsPerSecond"].tolist() == [0.0, 5.0, 10.0]
    assert str(rates["timestamp"].dt.tz) == "UTC"


def test_tables_frame_lists_every_table_of_the_report() -> None:
    report = {
        "tables": {
            "bronze": {"exists": True, "rows": 5, "version": 2, "last_commit": "x"},
            "gold": {"exists": False, "rows": 0, "version": None, "last_commit": None},
        }
    }

    tables = data.tables_frame(report)

    assert tables["table"].tolist() == ["bronze", "gold"]
    assert tables["exists"].tolist() == [True, False]
    assert tables["rows"].tolist() == [5, 0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "never"),
        (3.2, "3 s ago"),
        (600, "10 min ago"),
        (3 * 3600, "3 h ago"),
        (3e5, "3 days ago"),
    ],
)
def test_human_age(seconds: float | None, text: str) -> None:
    assert data.human_age(seconds) == text


# Figures -----------------------------------------------------------------------------------
def test_candlesticks_carry_the_up_probability_on_a_second_axis() -> None:
    bars = _bars("AAPL", [10.0, 11.0, 12.0])
    predictions = pd.DataFrame(
        {
            "window_start": [_minute(0), _minute(1), _minute(2)],
            "probability_up": [0.4, 0.6, 0.7],
            "kind": ["test", "test", "forward"],
            "run_id": ["r"] * 3,
        }
    )

    figure = figures.candlestick_figure(bars, predictions, "AAPL")

    types = [trace.type for trace in figure.data]
    assert types == ["candlestick", "scatter", "scatter"]
    assert list(figure.data[0].close) == [10.0, 11.0, 12.0]
    assert figure.data[1].yaxis == "y2" and list(figure.data[1].y) == [0.4, 0.6]
    assert figure.data[2].mode == "markers"
    assert list(figure.layout.yaxis2.range) == [0, 1]
    assert [t.type for t in figures.candlestick_figure(bars, None, "AAPL").data] == ["candlestick"]


def test_auc_figure_plots_successful_runs_against_chance() -> None:
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "trained_at": [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)],
            "status": ["ok", "skipped", "ok"],
            "auc": [0.55, None, 0.6],
            "auc_ci_low": [0.45, None, 0.58],
            "auc_ci_high": [0.65, None, 0.61],
        }
    )

    figure = figures.auc_figure(runs)

    assert list(figure.data[0].y) == [0.55, 0.6]
    assert list(figure.data[0].error_y.array) == pytest.approx([0.1, 0.01])
    assert list(figure.data[0].error_y.arrayminus) == pytest.approx([0.1, 0.02])
    assert [shape.y0 for shape in figure.layout.shapes] == [0.5]


def test_equity_rates_quarantine_and_tables_figures() -> None:
    equity = pd.DataFrame({"window_start": [_minute(0), _minute(1)], "equity": [100.0, 101.0]})
    hold = pd.DataFrame({"window_start": [_minute(0), _minute(1)], "buy_hold": [99.9, 98.0]})
    assert [t.name for t in figures.equity_figure(equity, hold, "AAPL").data] == [
        "q_learning agent",
        "buy and hold",
    ]

    rates = data.rates_frame(
        [{"timestamp": "2026-01-02T09:00:00Z", "inputRowsPerSecond": 3.0}], "gold"
    )
    assert len(figures.rates_figure(rates).data) == 2

    bars = figures.quarantine_figure({"late": 3, "duplicate": 1}).data[0]
    assert (list(bars.x), list(bars.y)) == (["late", "duplicate"], [3, 1])

    tables = pd.DataFrame(
        {
            "table": ["bronze", "gold"],
            "exists": [True, False],
            "rows": [10, 0],
            "version": [1, None],
        }
    )
    assert list(figures.tables_figure(tables).data[0].x) == ["bronze"]


def test_the_excess_figure_shows_each_strategy_with_its_interval_against_zero() -> None:
    latest = pd.DataFrame(
        {
            "symbol": ["AAPL", "AAPL", "MSFT"],
            "strategy": ["q_learning", "classifier", "q_learning"],
            "excess_vs_exposure_matched": [0.02, None, -0.01],
            "excess_ci_low": [0.01, None, -0.03],
            "excess_ci_high": [0.05, None, 0.02],
        }
    )

    figure = figures.excess_figure(latest)

    points = figure.data[0]
    assert list(points.x) == ["AAPL · q_learning", "MSFT · q_learning"]  # no figure, no point
    assert list(points.y) == [0.02, -0.01]
    assert list(points.error_y.array) == pytest.approx([0.03, 0.03])
    assert list(points.error_y.arrayminus) == pytest.approx([0.01, 0.02])
    assert [shape.y0 for shape in figure.layout.shapes] == [0.0]


def test_the_open_bar_is_drawn_after_the_closed_ones() -> None:
    live = [
        {"symbol": "MSFT", "window_start": "2026-01-02T09:03:00+00:00", "close": 5.0},
        {
            "symbol": "AAPL",
            "window_start": "2026-01-02T09:03:00+00:00",
            "open": 9.0,
            "high": 10.0,
            "low": 8.5,
            "close": 9.5,
            "total_volume": 40,
        },
    ]
    open_bars = data.live_bars_frame(live, "AAPL")
    assert open_bars["close"].tolist() == [9.5]
    assert open_bars["window_start"].tolist() == [_minute(3)]
    assert data.live_bars_frame(live, "GOOG").empty

    figure = figures.candlestick_figure(_bars("AAPL", [10.0, 11.0, 12.0]), None, "AAPL", open_bars)

    assert [trace.name for trace in figure.data] == ["AAPL", "AAPL, open bar"]
    assert list(figure.data[1].close) == [9.5]
