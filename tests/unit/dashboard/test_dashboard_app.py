"""The Streamlit script, run headless by Streamlit's AppTest (no browser, no server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from deltalake import write_deltalake
from streamlit.testing.v1 import AppTest

from financelake.config import Settings
from financelake.dashboard.launch import APP
from financelake.service_state import ServiceState, write_state


def _app(lake: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FINANCELAKE_LAKE_ROOT", str(lake))
    monkeypatch.setenv("FINANCELAKE_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # Kafka is down
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    return app


T0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


def _write_bars(settings: Settings, closes: list[float]) -> None:
    """One-minute Gold bars of AAPL from T0 with these closes."""
    write_deltalake(
        settings.table_path("gold"),
        pd.DataFrame(
            {
                "symbol": "AAPL",
                "window_start": [T0 + timedelta(minutes=i) for i in range(len(closes))],
                "open": [c - 1 for c in closes],
                "high": [c + 1 for c in closes],
                "low": [c - 1.5 for c in closes],
                "close": closes,
                "date": [date(2026, 1, 2)] * len(closes),
            }
        ),
    )


def test_an_empty_lake_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path / "lake", monkeypatch)

    assert not app.exception
    assert not app.error
    infos = " ".join(info.value for info in app.info)
    assert "No Gold table yet" in infos
    assert "No training runs yet" in infos
    assert "has not reported yet" in infos
    assert "Missing tables: bronze, silver, quarantine, gold" in infos
    assert "Kafka" in " ".join(warning.value for warning in app.warning)


def test_a_partly_filled_lake_shows_what_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    settings = Settings(lake_root=str(lake))
    _write_bars(settings, [2.0, 3.0, 4.0, 5.0, 4.0])

    app = _app(lake, monkeypatch)

    assert not app.exception
    assert not app.error
    assert app.selectbox(key="symbol").value == "AAPL"
    infos = " ".join(info.value for info in app.info)
    assert "No predictions yet" in infos
    assert "No Gold table yet" not in infos
    assert len(app.get("plotly_chart")) >= 2  # candlesticks and rows per table


def test_results_show_their_intervals_and_the_service_and_maintenance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    settings = Settings(lake_root=str(lake))
    _write_bars(settings, [2.0, 3.0, 4.0])
    write_deltalake(
        settings.table_path("gold_ml"),
        pd.DataFrame(
            {
                "run_id": ["r1"],
                "trained_at": [T0],
                "status": ["ok"],
                "auc": [0.61],
                "auc_ci_low": [0.55],
                "auc_ci_high": [0.67],
                "auc_p_value": [0.0004],
            }
        ),
    )
    write_deltalake(
        settings.table_path("gold_rl"),
        pd.DataFrame(
            {
                "run_id": ["r1", "r1"],
                "trained_at": [T0, T0],
                "symbol": ["AAPL", "AAPL"],
                "strategy": ["classifier", "q_learning"],
                "initial_capital": [1_000.0, 1_000.0],
                "fee_rate": [0.001, 0.001],
                "agent_return": [0.01, 0.0],
                "buy_hold_return": [0.02, 0.02],
                "exposure": [0.5, 0.0],
                "excess_vs_exposure_matched": [0.0, 0.0],
                "excess_ci_low": [-0.01, 0.0],
                "excess_ci_high": [0.01, 0.0],
                "trades": [3, 0],
                "never_traded": [False, True],
            }
        ),
    )
    write_deltalake(
        settings.table_path("maintenance"),
        pd.DataFrame(
            {
                "run_id": ["m1"],
                "started_at": [T0],
                "finished_at": [T0 + timedelta(seconds=20)],
                "table_name": ["bronze"],
                "compacted": [True],
                "files_vacuumed": [12],
                "vacuum_retention": ["7 days"],
                "status": ["ok"],
                "error": [None],
            }
        ),
    )
    write_state(str(lake), ServiceState.WAITING, "topic 'stock_prices' does not exist", local=True)

    app = _app(lake, monkeypatch)

    assert not app.exception
    assert not app.error
    captions = " ".join(caption.value for caption in app.caption)
    assert "latest AUC 0.610, 95% interval [0.550, 0.670], p = 0.0004 against 0.5" in captions
    assert "service: waiting for Kafka: topic 'stock_prices' does not exist" in captions
    assert "maintenance: last run at 2026-01-02 09:00 UTC, ok, 12 files vacuumed" in captions
    trader = app.dataframe[0].value
    assert trader["strategy"].tolist() == ["q_learning", "classifier"]
    assert trader["excess"].tolist() == ["+0.00% [+0.00%, +0.00%]", "+0.00% [-1.00%, +1.00%]"]
    assert trader["never_traded"].tolist() == [True, False]
