"""`financelake status` and the dashboard against a lake built by the real pipeline.

Ticks go through the real broker, the streams (with the service's progress listener) and one
real training cycle; then `status --json` is checked against the tables read directly, and
the dashboard is opened in headless Chromium (Debian's package, installed here if missing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from support import answers_http, load_healthcheck

from financelake.children import wait_until
from financelake.config import REPO_ROOT, TABLES, Settings
from financelake.environment import settings_env
from financelake.kafka.broker import EmbeddedBroker, free_port
from financelake.lake.values import parse_time
from financelake.maintenance import run_maintenance
from financelake.market.publisher import produce, publish
from financelake.pipeline import run_available_now
from financelake.streams.progress import ProgressFiles
from financelake.training import run_training_cycle

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SYMBOLS = ["AAPL", "MSFT"]
TICKS = 1_400  # 700 per symbol, 5 s apart: about 58 one-minute bars each


# Fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed with apt-get if missing (Playwright's download cannot work)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and there is no apt-get to install it")
    if os.geteuid() != 0:
        pytest.skip(
            f"{CHROMIUM} is missing and installing it needs root (apt-get install chromium)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    try:
        result = apt("install", "-y", "chromium", timeout=900)
        if result.returncode != 0:  # stale package lists: refresh them once
            apt("update", timeout=300)
            result = apt("install", "-y", "chromium", timeout=900)
    except subprocess.TimeoutExpired as exc:
        pytest.skip(f"apt-get could not install chromium within {exc.timeout:.0f} s")
    if result.returncode != 0 or not Path(CHROMIUM).exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        pytest.skip(f"apt-get install chromium failed ({result.returncode}): {' | '.join(tail)}")
    return CHROMIUM


@pytest.fixture(scope="module")
def lake(
    spark: SparkSession, broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A lake with every table filled: ticks (some bad) -> streams -> one training cycle ->
    one maintenance run."""
    settings = Settings(
        lake_root=str(tmp_path_factory.mktemp("status_dashboard") / "lake"),
        bootstrap_servers=broker.address,
        topic="t_status_dashboard",
        spark_master="local[2]",
        spark_ui=False,
        shuffle_partitions=2,
        kafka_data_dir=broker.data_dir,
        min_labelled_bars=20,
        # ~116 labelled bars: a small test split, enough to fill every column (not to judge)
        min_test_rows=10,
        min_test_bars=5,
        rl_episodes=1,
    )
    start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=2)
    report = produce(
        settings, symbols=SYMBOLS, count=TICKS, seed=11, tick_interval_s=5.0, start=start
    )
    assert report.ok, report
    when = (start + timedelta(minutes=1)).isoformat()
    good = {"symbol": "AAPL", "price": 10.0, "volume": 5, "open": 10.0, "high": 11.0, "low": 9.0}
    bad = [
        {**good, "price": -1.0, "timestamp": when},
        {**good, "price": -2.0, "timestamp": when},
        {**good, "timestamp": "yesterday"},
    ]
    assert publish(bad, settings).ok

    listener = ProgressFiles(settings.lake_root)  # what the service registers
    spark.streams.addListener(listener)
    try:
        run_available_now(spark, settings)
        # listener events are delivered on Spark's bus thread: wait until it is drained
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()  # type: ignore[union-attr]
    finally:
        spark.streams.removeListener(listener)
    result = run_training_cycle(spark, settings)
    assert result.status == "ok", result.summary()
    assert run_maintenance(spark, settings).ok  # fills the maintenance table too
    return settings


@pytest.fixture
def dashboard() -> Iterator[Any]:
    """Start `financelake dashboard` for a lake; stops it (SIGTERM) at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings) -> str:
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "financelake",
            "dashboard",
            "--lake-root",
            settings.lake_root,
            "--bootstrap-servers",
            settings.bootstrap_servers,
            "--topic",
            settings.topic,
            "--port",
            str(port),
        ]
        process = subprocess.Popen(command)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        health = f"{url}/_stcore/health"
        wait_until(
            lambda: answers_http(health, timeout_s=1), 60, f"the dashboard at {url}",
            children=[process], poll_s=0.2,
        )  # fmt: skip
        return url

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)  # `serve` passes it on to Streamlit
        try:
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()


def _status_json(settings: Settings) -> tuple[dict[str, Any], float]:
    command = [
        sys.executable,
        "-m",
        "financelake",
        "status",
        "--json",
        "--lake-root",
        settings.lake_root,
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--topic",
        settings.topic,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout), time.perf_counter() - started


# Status ------------------------------------------------------------------------------------
def test_status_json_agrees_with_the_tables(spark: SparkSession, lake: Settings) -> None:
    report, _seconds = _status_json(lake)

    for name in TABLES:
        path = lake.table_path(name)
        table = DeltaTable(path)
        entry = report["tables"][name]
        assert entry["exists"] is True, name
        assert entry["version"] == table.version(), name
        assert entry["rows"] == spark.read.format("delta").load(path).count(), name
        assert parse_time(entry["last_commit"]) == parse_time(table.history(1)[0]["timestamp"])
    assert report["tables"]["silver"]["rows"] == TICKS
    assert report["tables"]["bronze"]["rows"] == TICKS + 3

    quarantine = spark.read.format("delta").load(lake.table_path("quarantine"))
    assert quarantine.count() == 3
    codes = quarantine.groupBy("reason_code").count().collect()
    assert report["quarantine_by_reason_code"] == {
        row["reason_code"]: row["count"] for row in codes
    }
    assert report["quarantine_by_reason_code"] == {"not_positive": 2, "bad_timestamp": 1}

    silver = spark.read.format("delta").load(lake.table_path("silver"))
    clocks = silver.groupBy("symbol").agg(F.max("event_time").alias("clock")).collect()
    assert {s: parse_time(c) for s, c in report["market"]["clocks"].items()} == {
        row["symbol"]: parse_time(row["clock"].astimezone(UTC)) for row in clocks
    }
    live = spark.read.format("delta").load(lake.table_path("gold_live")).collect()
    assert sorted((bar["symbol"], bar["tick_count"]) for bar in report["market"]["live_bars"]) == (
        sorted((row["symbol"], row["tick_count"]) for row in live)
    )

    assert report["kafka"]["reachable"] is True
    assert report["kafka"]["end_offset_total"] == TICKS + 3
    ingest, gold = report["streams"]["ingest"], report["streams"]["gold"]
    assert ingest["source"] == "progress" and ingest["last_batch"] is not None
    assert (ingest["lag"], ingest["lag_unit"], ingest["lag_source"]) == (0, "messages", "kafka")
    assert gold["source"] == "progress"
    # Gold read every Silver version with data; the maintenance commits after it change none
    assert (gold["lag"], gold["lag_unit"]) == (0, "versions")

    runs = spark.read.format("delta").load(lake.table_path("gold_ml")).collect()
    assert report["models"]["runs"] == len(runs) == 1
    assert report["models"]["auc"] == pytest.approx(runs[0]["auc"])
    assert report["models"]["auc_ci_low"] == pytest.approx(runs[0]["auc_ci_low"])
    assert report["models"]["auc_ci_high"] == pytest.approx(runs[0]["auc_ci_high"])
    trader = spark.read.format("delta").load(lake.table_path("gold_rl")).collect()
    entries = report["trader"]["symbols"]
    # one entry per symbol and strategy: the agent, and the classifier's signal traded
    assert sorted((row["symbol"], row["strategy"]) for row in entries) == sorted(
        (row["symbol"], row["strategy"]) for row in trader
    )
    assert {row["symbol"] for row in entries} == set(SYMBOLS)
    assert {row["strategy"] for row in entries} == {"q_learning", "classifier"}
    by_key = {(row["symbol"], row["strategy"]): row for row in trader}
    for entry in entries:
        expected = by_key[entry["symbol"], entry["strategy"]]
        for key in ("final_portfolio_value", "agent_return", "excess_vs_exposure_matched"):
            assert entry[key] == pytest.approx(expected[key]), key
        assert (entry["excess_ci_low"], entry["excess_ci_high"]) == pytest.approx(
            (expected["excess_ci_low"], expected["excess_ci_high"])
        )
        assert entry["never_traded"] == expected["never_traded"]

    maintenance = spark.read.format("delta").load(lake.table_path("maintenance")).collect()
    assert report["maintenance"]["run_id"] == maintenance[0]["run_id"]
    assert report["maintenance"]["status"] == "ok"
    assert report["maintenance"]["tables"] == len(maintenance)
    vacuumed = sum(row["files_vacuumed"] or 0 for row in maintenance)
    assert (report["maintenance"]["files_vacuumed"] or 0) == vacuumed


def test_status_check_passes_on_a_drained_lake(lake: Settings) -> None:
    command = [
        sys.executable,
        "-m",
        "financelake",
        "status",
        "--check",
        "--lake-root",
        lake.lake_root,
        "--bootstrap-servers",
        lake.bootstrap_servers,
        "--topic",
        lake.topic,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


def test_the_containers_pipeline_probe_is_status_check(
    lake: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker/healthcheck.py's `pipeline` probe (the image's HEALTHCHECK of `financelake run`):
    streams reported progress lately, then `status --check` of the pipeline's settings."""
    healthcheck = load_healthcheck()
    for name, value in settings_env(lake, base={}).items():
        monkeypatch.setenv(name, value)
    progress = sorted(Path(lake.lake_root, "_status", "streams").glob("*.json"))
    assert progress, "the drain wrote progress files"
    now = time.time()
    for path in progress:
        os.utime(path, (now, now))  # the probe asks for progress younger than 120 s
    assert healthcheck.main(["pipeline"]) == 0

    monkeypatch.setenv("FINANCELAKE_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    assert healthcheck.main(["pipeline"]) == 1  # progress alone is not health: Kafka is gone


def test_status_lag_counts_the_messages_not_read_yet(lake: Settings) -> None:
    produced = produce(lake, symbols=["GOOG"], count=25, seed=5, start=datetime(2030, 1, 1))
    assert produced.ok

    from_progress, _ = _status_json(lake)
    progress = Path(lake.lake_root) / "_status"
    hidden = progress.with_name("_status_hidden")
    progress.rename(hidden)  # without progress files, status falls back to the checkpoints
    try:
        from_checkpoint, _ = _status_json(lake)
    finally:
        hidden.rename(progress)

    for report, source in ((from_progress, "progress"), (from_checkpoint, "checkpoint")):
        ingest = report["streams"]["ingest"]
        assert ingest["source"] == source
        assert (ingest["lag"], ingest["lag_source"]) == (25, "kafka")


# Dashboard ---------------------------------------------------------------------------------
@contextmanager
def _open(chromium: str, url: str) -> Iterator[tuple[Any, list[str]]]:
    """A page of `url` in headless Chromium, and the console errors it logs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


TRACES = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
    gd => (gd.data || []).map(t => ({type: t.type, points: t.x ? t.x.length : 0})))"""


@pytest.mark.browser
def test_the_dashboard_draws_every_chart_of_a_filled_lake(
    chromium: str, lake: Settings, dashboard: Any
) -> None:
    url = dashboard(lake)
    with _open(chromium, url) as (page, errors):
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=60_000
        )
        page.wait_for_selector("text=Pipeline health")
        charts: list[list[dict[str, Any]]] = page.evaluate(TRACES)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        assert page.locator('[data-testid="stException"]').count() == 0
        assert "Could not show" not in page.inner_text("body")
        assert errors == []
        types = [[trace["type"] for trace in chart] for chart in charts]
        candles = [chart for chart in charts if chart and chart[0]["type"] == "candlestick"]
        assert len(candles) == 1, types
        assert candles[0][0]["points"] > 20
        assert any(t["type"] == "scatter" and t["points"] > 0 for t in candles[0][1:]), types
        assert ["scatter"] in types  # AUC across runs
        assert ["scatter", "scatter"] in types  # equity against buy-and-hold
        assert sum(chart.count("bar") for chart in types) == 2  # quarantine, rows per table
        assert all(trace["points"] > 0 for chart in charts for trace in chart), charts
        assert page.locator("text=Missing tables").count() == 0


@pytest.mark.browser
def test_the_dashboard_of_an_empty_lake_says_what_is_missing(
    chromium: str, broker: EmbeddedBroker, tmp_path: Path, dashboard: Any
) -> None:
    empty = Settings(lake_root=str(tmp_path / "empty"), bootstrap_servers=broker.address)
    url = dashboard(empty)
    with _open(chromium, url) as (page, errors):
        page.wait_for_selector("text=Missing tables", timeout=60_000)
        text = page.inner_text("body")

        assert page.locator('[data-testid="stException"]').count() == 0
        assert errors == []
        assert "No Gold table yet" in text
        assert "No training runs yet" in text
        assert "has not reported yet" in text
        assert page.locator(".js-plotly-plot").count() == 0
