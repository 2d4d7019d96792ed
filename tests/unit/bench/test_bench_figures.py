"""The bench's figures come from structured files and land under the keys the README lists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest

from bench.latency import closed_bar_lag_ms, percentiles
from bench.memory import MB, MemorySampler
from bench.run import QUICK, Bench
from bench.targets import TARGETS, distance
from bench.throughput import _two_rates, scaling_fit, steady_span
from financelake.config import REPO_ROOT
from financelake.lake.progress import progress_dir, record_progress


def _batch(query: str, second: int, trigger_ms: int, rows: int) -> dict[str, Any]:
    return {
        "name": query,
        "timestamp": f"2026-01-02T09:00:{second:02d}.000Z",
        "batchId": second,
        "numInputRows": rows,
        "durationMs": {"triggerExecution": trigger_ms},
    }


@pytest.fixture
def drained_lake(tmp_path: Path) -> str:
    """A lake whose progress files hold two ingest batches and one Gold batch."""
    folder = progress_dir(str(tmp_path))
    assert folder is not None
    folder.mkdir(parents=True)
    for progress in (
        _batch("ingest", 1, 2_000, 600),
        _batch("ingest", 3, 1_500, 400),
        _batch("gold", 0, 100, 0),  # Gold polling before Silver has data: not work
        _batch("gold", 5, 2_500, 1_000),
    ):
        record_progress(folder, progress)
    return str(tmp_path)


def test_steady_state_runs_from_the_first_batch_start_to_the_last_batch_end(
    drained_lake: str,
) -> None:
    assert steady_span(drained_lake, ("ingest", "gold")) == (5 + 2.5 - 1, 3)
    assert steady_span(drained_lake, ("ingest",)) == (3 + 1.5 - 1, 2)
    assert steady_span(drained_lake, ("floor",)) is None


def test_whole_command_and_steady_rates_are_reported_side_by_side(drained_lake: str) -> None:
    figures = _two_rates(13_000, 10.0, drained_lake, ("ingest", "gold"))
    assert figures["drain_ticks_per_s"] == 1_300
    assert figures["steady_s"] == 6.5
    assert figures["steady_ticks_per_s"] == 2_000
    assert figures["startup_s"] == 3.5


def test_the_scaling_fit_gives_fixed_and_marginal_cost() -> None:
    fit = scaling_fit([(100_000, 30.0), (1_000_000, 48.0)])
    assert fit["fixed_s"] == pytest.approx(28.0)
    assert fit["marginal_s_per_million"] == pytest.approx(20.0)
    assert fit["marginal_ticks_per_s"] == pytest.approx(50_000)
    assert scaling_fit([(100_000, 30.0)]) == {}


def test_a_bar_lags_from_the_tick_that_closes_it_on_its_own_symbols_clock() -> None:
    """Bars end at 60 s (event time, in µs), the watermark is 30 s: a bar closes with its
    symbol's first tick at or past 90 s. BBB's tick at 95 s does not close AAA's bar."""
    s = 1_000_000
    ticks = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA", "BBB", "AAA", "AAA"],
            "event_us": [50 * s, 80 * s, 95 * s, 91 * s, 120 * s],
            "kafka_ms": [1_000, 2_000, 2_500, 3_000, 4_000],
        }
    )
    bars = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA"],
            "window_end": pd.to_datetime([60 * s, 120 * s], unit="us", utc=True),
            "committed_ms": [3_700, 9_000],
        }
    )
    lag = closed_bar_lag_ms(bars, ticks, watermark_s=30)
    # The first bar closed at AAA's tick produced at 3,000 ms; the second (needs 150 s) not yet.
    assert lag["closing_ms"].tolist() == [3_000]
    assert lag["lag_ms"].tolist() == [700]


def test_percentiles_are_in_seconds_and_empty_input_gives_a_count_of_zero() -> None:
    figures = percentiles("silver", np.arange(1, 101, dtype=float) * 10)
    assert figures["silver_p50_s"] == pytest.approx(0.505)
    assert figures["silver_count"] == 100
    assert percentiles("gold_closed_lag", np.array([])) == {"gold_closed_lag_count": 0}


def test_a_target_says_met_or_missed_with_the_ratio() -> None:
    assert distance("l.1000.silver_p95_s", 0.75) == ("≤ 1.5", "met (0.5x target)")
    assert distance("p.drain_ticks_per_s", 30_000.0) == ("≥ 60,000", "missed (0.5x target)")
    assert distance("b1.confluent_ticks_per_s", 1.0) == ("", "")


def _documented_keys() -> list[re.Pattern[str]]:
    """The key column of the README's bench key table, `<placeholders>` as wildcards."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("### Figures and their keys", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| (`.+?) \|", section, flags=re.MULTILINE)
    keys = [key for cell in cells for key in re.findall(r"`([^`]+)`", cell)]
    assert keys, "the README's bench section lists no keys"
    parts = [re.split(r"<[a-z]+>", key) for key in keys]
    return [re.compile("[0-9a-z_]+".join(map(re.escape, p)) + "$") for p in parts]


def test_every_figure_key_and_every_target_is_documented_in_the_readme(
    drained_lake: str,
) -> None:
    bench = Bench(None, QUICK, {"B1", "B3", "P", "S", "L", "M", "F"}, [1000.0])  # type: ignore[arg-type]
    sampler = MemorySampler(None)
    sampler.series = [{"t": 0.5, "broker": 400.0, "spark_jvm": 900.0, "python": 100.0}]
    rates = _two_rates(13_000, 10.0, drained_lake, ("ingest", "gold"))
    bench.keep("b1", {"confluent_ticks_per_s": 1.0, "confluent_mb_per_s": 1.0})
    bench.keep("b3", rates)
    bench.keep("p", {**rates, "memory": sampler.report(), "files": {"silver.live_files": 2}})
    bench.keep("s", scaling_fit([(1, 1.0), (2, 3.0)]))
    latencies = np.array([1.0, 2.0])
    bench.keep(
        "l.1000",
        percentiles("bronze", latencies)
        | percentiles("silver", latencies)
        | percentiles("gold_closed_lag", latencies)
        | {"series": [{"t": 0, "p50": 1.0, "p95": 2.0}], "files": {"gold.live_files": 1}},
    )
    bench.keep("demo", {"silver_rows": 5, "stop_s": 1.0, "memory": sampler.report()})
    bench.ratios()
    patterns = _documented_keys()
    undocumented = [k for k in [*bench.figures, *TARGETS] if not any(p.match(k) for p in patterns)]
    assert undocumented == []
    assert {"p_over_b3_steady", "p.steady_ticks_per_s", "l.1000.gold_closed_lag_p95_s"} <= set(
        bench.figures
    )
    assert set(bench.series) == {"m.p", "l.1000", "m.demo"}


def test_the_sampler_counts_a_watched_python_process_as_python() -> None:
    # A child of its own: this test process may hold the session's Spark JVM as a child.
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
        stdin=PIPE,
        stdout=PIPE,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()  # its interpreter is loaded: a process just forked is tiny
        sampler = MemorySampler(None)
        sampler.watch(child.pid)
        usage = sampler.sample()
    finally:
        child.communicate(b"")
    assert usage["python"] > 1
    assert usage["broker"] == usage["spark_jvm"] == 0


def test_the_sampler_counts_pages_a_forked_child_shares_with_its_parent_once() -> None:
    # 200 MB touched, then a fork that keeps them copy-on-write, as PySpark forks its workers.
    script = (
        'import os, sys; block = b"x" * (200 * 2**20); '
        "pid = os.fork(); print('up', flush=True); sys.stdin.read()"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=PIPE, stdout=PIPE)
    try:
        assert parent.stdout is not None
        parent.stdout.readline()
        parent.stdout.readline()  # both processes are up, the block shared
        tree = [psutil.Process(parent.pid), *psutil.Process(parent.pid).children()]
        resident = sum(p.memory_info().rss for p in tree) / MB
        sampler = MemorySampler(None)
        sampler.watch(parent.pid)
        counted = sampler.sample()["python"]
    finally:
        parent.communicate(b"")
    assert len(tree) == 2
    assert resident > 400  # each process's resident size holds the block
    assert 200 < counted < 300  # the block counted once
