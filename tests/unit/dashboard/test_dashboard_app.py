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


def _app(lake: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FINANCELAKE_LAKE_ROOT", str(lake))
    monkeypatch.setenv("FINANCELAKE_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # Kafka is down
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.run()
    return app


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
    t0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
    starts = [t0 + timedelta(minutes=i) for i in range(5)]
    write_deltalake(
        settings.table_path("gold"),
        pd.DataFrame(
            {
                "symbol": "AAPL",
                "window_start": starts,
                "open": [1.0, 2.0, 3.0, 4.0, 5.0],
                "high": [2.0, 3.0, 4.0, 5.0, 6.0],
                "low": [0.5, 1.5, 2.5, 3.5, 4.5],
                "close": [2.0, 3.0, 4.0, 5.0, 4.0],
                "date": [date(2026, 1, 2)] * 5,
            }
        ),
    )

    app = _app(lake, monkeypatch)

    assert not app.exception
    assert not app.error
    assert app.selectbox(key="symbol").value == "AAPL"
    infos = " ".join(info.value for info in app.info)
    assert "No predictions yet" in infos
    assert "No Gold table yet" not in infos
    assert len(app.get("plotly_chart")) >= 2  # candlesticks and rows per table
