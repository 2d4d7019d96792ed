"""The continuous service: trains while ingesting, stops on SIGTERM in time, restarts losslessly."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from support import produce_ticks, read_bars, read_table, run_cli, start_cli

from financelake.children import wait_until
from financelake.config import Settings
from financelake.market.publisher import publish
from financelake.market.simulator import simulate_ticks
from financelake.service import SHUTDOWN_BUDGET_S
from financelake.service_state import read_state


def _runs_on_data(settings: Settings) -> int:
    """Training runs recorded so far that saw a non-empty Gold table."""
    try:
        runs = DeltaTable(settings.table_path("gold_ml")).to_pandas(columns=["gold_version"])
    except TableNotFoundError:
        return 0
    return int((runs.gold_version > 0).sum())


def test_continuous_run_trains_twice_stops_on_sigterm_and_restarts_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    history = produce_ticks(settings, 3000, tick_interval_s=5.0)
    live_start = history[-1].event_time + timedelta(seconds=5)
    live = list(
        simulate_ticks(
            ("AAPL", "MSFT", "GOOG"), model="trend", seed=9, start=live_start,
            tick_interval_s=5.0, count=3000,
        )
    )  # fmt: skip
    log = tmp_path / "service.log"
    service = start_cli(
        ["run", "--train-interval", "3", "--max-offsets-per-trigger", "1500"], settings, log
    )
    feeder = threading.Thread(target=publish, args=(live[:1500], settings), kwargs={"rate": 300})
    feeder.start()
    wait_until(
        lambda: _runs_on_data(settings) >= 2, 300, "two training runs on data",
        children=[service], log_path=log,
    )  # fmt: skip
    feeder.join()

    service.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    exit_code = service.wait(timeout=SHUTDOWN_BUDGET_S + 15)
    stop_seconds = time.monotonic() - stopping
    assert exit_code == 0, log.read_text()[-4000:]
    assert stop_seconds <= SHUTDOWN_BUDGET_S, stop_seconds

    publish(live[1500:], settings)
    drained = run_cli(["run", "--available-now"], settings, timeout=600)
    assert drained.returncode == 0, drained.stderr[-3000:]

    bronze = read_table(settings, "bronze")
    assert len(bronze) == 6000
    assert bronze.groupby(["partition", "offset"]).size().max() == 1
    silver = read_table(settings, "silver")
    assert len(silver) == 6000
    assert silver.groupby(["symbol", "event_time"]).size().max() == 1
    assert read_bars(settings).tick_count.sum() == 6000
    ml = read_table(settings, "gold_ml")
    assert len(ml) >= 2
    assert set(ml.status) <= {"ok", "skipped"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_service_started_before_its_topic_waits_then_stops_cleanly_on_a_group_signal(
    settings: Settings, tmp_path: Path, sig: signal.Signals
) -> None:
    log = tmp_path / "service.log"
    service = start_cli(["run", "--no-train"], settings, log)  # the topic does not exist yet
    wait_until(
        lambda: getattr(read_state(settings.lake_root), "state", None) == "waiting",
        300, "the service waiting for its topic", children=[service], log_path=log, poll_s=0.2,
    )  # fmt: skip
    state = read_state(settings.lake_root)
    assert state is not None and settings.topic in state.detail

    produce_ticks(settings, 600)  # creates the topic; the service notices and starts
    wait_until(
        lambda: len(_rows(settings, "silver")) >= 600, 300, "the ticks in Silver",
        children=[service], log_path=log,
    )  # fmt: skip

    os.killpg(service.pid, sig)  # what systemd, `kill -- -PGID` and Ctrl+C in a terminal do
    stopping = time.monotonic()
    exit_code = service.wait(timeout=SHUTDOWN_BUDGET_S + 15)
    assert exit_code == 0, log.read_text()[-4000:]
    assert time.monotonic() - stopping <= SHUTDOWN_BUDGET_S
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]
    bronze = read_table(settings, "bronze")
    assert len(bronze) == 600
    assert bronze.groupby(["partition", "offset"]).size().max() == 1
    assert read_state(settings.lake_root) is not None
    assert read_state(settings.lake_root).state == "stopped"  # type: ignore[union-attr]


def _rows(settings: Settings, table: str) -> list[int]:
    try:
        return list(DeltaTable(settings.table_path(table)).to_pandas(columns=["offset"]).offset)
    except TableNotFoundError:
        return []
