"""L (and T's ingest half): the continuous service under a paced producer, measured from the lake.

One run: a fresh topic and lake; a history of ticks (about 2,000 Gold bars, so training has
something to chew on) drained first; then `financelake produce --rate R` for a window while
`financelake run` (continuous, --no-train or a short --train-interval) keeps up; then SIGTERM.

Definitions (all wall clock, milliseconds from the Delta log and Kafka):
- produce -> Bronze / Silver: per tick, the `commitInfo.timestamp` of the Delta commit that added
  its row, minus its Kafka timestamp (the producer's CreateTime: when `produce()` was called).
- Gold bar finalisation lag, per bar closed during the window: the time of the first Gold commit
  holding the bar with its final values (tick count and last tick time), minus the produce time
  of the tick that closed it, the first tick with event_time >= window_end + watermark delay.
  Before that tick nobody could know the bar was complete, so the lag may be negative: the bar
  was already final when its closing tick was produced.
- Also `last_tick_to_final`: the same commit time minus the produce time of the bar's own last
  tick (how long a bar's final values take to reach Gold).
Ticks produced in the first `warmup_s` seconds of the window are left out of the percentiles.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from bench import deltalog
from bench.harness import (
    Broker,
    Workspace,
    child_env,
    create_topic,
    financelake,
    run_worker,
    settings,
    wait_for,
)
from bench.memory import RssSampler
from financelake.catalog import INGEST_QUERY, STREAMED_TABLES
from financelake.config import Settings
from financelake.lake.progress import read_progress
from financelake.lake.values import as_utc
from financelake.market.publisher import produce
from financelake.market.simulator import DEFAULT_SYMBOLS
from financelake.service import SHUTDOWN_BUDGET_S

log = logging.getLogger("bench")

MARKET_SPEEDUP = 25.0  # market seconds per wall second, as in the demo (100 ticks/s, 1 s apart)
HISTORY_BARS = 2_000


@dataclass(frozen=True)
class LoadSpec:
    name: str
    rate: float  # ticks per second
    window_s: float
    warmup_s: float
    history_ticks: int
    train_interval_s: float | None = None  # None: --no-train


def continuous_run(workspace: Workspace, broker: Broker, spec: LoadSpec) -> dict[str, Any]:
    """One continuous run; returns latency percentiles, bar lag, cycles, memory, files."""
    topic = f"{spec.name}-{workspace.stamp}"
    root = workspace.path(spec.name)
    # The market runs MARKET_SPEEDUP times faster than the clock: its ticks are "future" to the
    # pipeline's guard by design, as in the demo.
    config = settings(broker, topic, root / "lake")
    lake = Path(config.lake_root)
    create_topic(config, topic)
    live_start = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    history = _produce_history(config, spec.history_ticks, live_start)

    log_path = workspace.log_file(spec.name)
    train = ["--no-train"] if spec.train_interval_s is None else [
        "--train-interval", str(spec.train_interval_s)
    ]  # fmt: skip
    env = child_env(config, workspace)
    with RssSampler(broker.pid) as sampler:
        service = workspace.spawn(financelake("run", *train), log_path, env)
        sampler.watch(service.pid)
        try:
            started = time.monotonic()
            wait_for(  # its first ingest batch, from the progress files it writes
                lambda: read_progress(config.lake_root, INGEST_QUERY) is not None,
                240,
                "service start",
                service,
                log_path,
            )
            ready_s = time.monotonic() - started
            catch_up_s = wait_for(
                lambda: _caught_up(lake, history),
                300,
                "history drain",
                service,
                log_path,
            )
            log.info(
                "  %s: service up in %.0f s, history of %s ticks drained in %.0f s; "
                "producing %s ticks/s for %.0f s",
                spec.name,
                ready_s,
                f"{history:,}",
                catch_up_s,
                f"{spec.rate:,.0f}",
                spec.window_s,
            )
            live = _produce_live(workspace, config, spec, live_start)
            tail_s = wait_for(
                lambda: _caught_up(lake, history + live["sent"]),
                180,
                "live drain",
                service,
                log_path,
            )
        finally:
            # Twice the service's own shutdown budget (30 s), then SIGKILL: recorded, not hidden.
            stop_s = workspace.stop(service, timeout_s=60)
    analysis = analyse(lake, live_start, spec, config.watermark_seconds, config.bar_seconds)
    result = {
        "rate": spec.rate,
        "window_s": spec.window_s,
        "warmup_s": spec.warmup_s,
        "train_interval_s": spec.train_interval_s,
        "market_speedup": MARKET_SPEEDUP,
        "history_ticks": history,
        "service_ready_s": ready_s,
        "history_drain_s": catch_up_s,
        "producer": live,
        "caught_up_after_producer_s": tail_s,
        "shutdown_s": stop_s,
        "service_exit_code": service.returncode,  # -9: it had to be killed
        "shutdown_kind": _shutdown_kind(stop_s, service.returncode),
        **analysis,
        "files": {
            table: deltalog.file_stats(lake / table)
            for table in STREAMED_TABLES
            if (lake / table / "_delta_log").exists()
        },
        "memory": sampler.report(),
    }
    workspace.drop(root)
    return result


def _shutdown_kind(stop_s: float, code: int | None) -> str:
    """How the service ended after SIGTERM, from its exit code and how long it took: its
    watchdog ends a stop that outlasts the shutdown budget (exit code 0 either way)."""
    if code == -9:
        return "killed by the bench after 60 s"
    if code == 0 and stop_s < SHUTDOWN_BUDGET_S - 2:
        return "graceful (within the shutdown budget)"
    if code == 0:
        return "forced by its shutdown watchdog (no graceful stop)"
    return f"exit code {code}"


def _produce_history(config: Settings, ticks: int, live_start: datetime) -> int:
    """Ticks in the market's past (ending before `live_start`), sent as fast as possible."""
    if ticks <= 0:
        return 0
    symbols = len(DEFAULT_SYMBOLS)
    interval = HISTORY_BARS * config.bar_seconds / ticks  # market seconds between a symbol's ticks
    span = timedelta(seconds=interval * ticks / symbols)
    # End a few bars before the live ticks so no bar mixes history and live ticks.
    start = live_start - span - timedelta(seconds=3 * config.bar_seconds + config.watermark_seconds)
    report = produce(config, count=ticks, rate=0, tick_interval_s=interval, start=start)
    if not report.ok:
        raise RuntimeError(f"history producer failed: {report}")
    return report.sent


def _produce_live(
    workspace: Workspace, config: Settings, spec: LoadSpec, start: datetime
) -> dict[str, Any]:
    """`financelake produce --rate R` for the window, market time MARKET_SPEEDUP x wall time."""
    count = round(spec.rate * spec.window_s)
    tick_interval = MARKET_SPEEDUP * len(DEFAULT_SYMBOLS) / spec.rate
    report, wall = run_worker(
        workspace, f"{spec.name}-producer", config, "produce",
        "--count", str(count), "--rate", str(spec.rate),
        "--tick-interval", str(tick_interval), "--start", start.isoformat(),
    )  # fmt: skip
    if not report["ok"]:
        raise RuntimeError(f"the paced producer failed: {report}")
    return {
        "requested": count,
        "sent": report["sent"],
        "tick_interval_s": tick_interval,
        "command_s": wall,
        "report": report,
    }


def _caught_up(lake: Path, ticks: int) -> bool:
    """Silver (+ Quarantine) hold `ticks` rows and Gold has committed after Silver's last write."""
    rows = deltalog.row_count(lake / "silver") + deltalog.row_count(lake / "quarantine")
    if rows < ticks:
        return False
    # Gold's stream wakes only for Silver commits that add data (compactions add none).
    silver = deltalog.latest_data_commit_ms(lake / "silver")
    gold = deltalog.latest_data_commit_ms(lake / "gold")
    return silver is not None and gold is not None and gold >= silver


# Analysis ---------------------------------------------------------------------------------
def analyse(
    lake: Path, live_start: datetime, spec: LoadSpec, watermark_s: int, bar_s: int
) -> dict[str, Any]:
    """Latency percentiles, Gold lag and training cycles of one run, from its lake."""
    start_us = _epoch_us(live_start)
    bronze = deltalog.visible_rows(lake / "bronze", ["kafka_timestamp", "event_time", "symbol"])
    silver = deltalog.visible_rows(lake / "silver", ["kafka_timestamp", "event_time"])
    bronze = _live(bronze, start_us)
    silver = _live(silver, start_us)
    if bronze.empty:
        raise RuntimeError("no live ticks reached Bronze")
    first_ms = int(bronze["kafka_ms"].min())
    measured_from = first_ms + spec.warmup_s * 1000
    cycles = _training_cycles(lake)
    out: dict[str, Any] = {
        "window_first_tick_ms": first_ms,
        "window_last_tick_ms": int(bronze["kafka_ms"].max()),
        "bronze": _latency(bronze, measured_from),
        "silver": _latency(silver, measured_from),
        "gold_lag": _gold_lag(lake, bronze, start_us, measured_from, watermark_s, bar_s),
        "series": _series(silver, first_ms),
    }
    if cycles:
        out["training"] = _during_cycles(silver, measured_from, cycles)
    return out


def _epoch_us(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1_000_000)


def _as_us(column: pd.Series) -> npt.NDArray[np.int64]:
    """Timestamps (tz-aware or naive UTC) as integer microseconds since the epoch."""
    values = pd.to_datetime(column, utc=True)
    micros = (values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
    return np.asarray(micros, dtype=np.int64)


def _live(rows: pd.DataFrame, start_us: int) -> pd.DataFrame:
    """Rows of live ticks only (the history's event times are before the live start)."""
    if rows.empty:
        return rows.assign(kafka_ms=pd.Series(dtype="int64"), event_us=pd.Series(dtype="int64"))
    rows = rows.dropna(subset=["event_time"]).copy()
    rows["event_us"] = _as_us(rows["event_time"])
    rows["kafka_ms"] = _as_us(rows["kafka_timestamp"]) // 1000
    rows = rows[rows["event_us"] >= start_us]
    rows["latency_ms"] = rows["committed_ms"] - rows["kafka_ms"]
    return rows


def _percentiles(values: np.ndarray) -> dict[str, Any]:
    if len(values) == 0:
        return {"count": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": len(values),
        "p50_s": round(float(p50) / 1000, 3),
        "p95_s": round(float(p95) / 1000, 3),
        "p99_s": round(float(p99) / 1000, 3),
        "max_s": round(float(values.max()) / 1000, 3),
        "mean_s": round(float(values.mean()) / 1000, 3),
    }


def _latency(rows: pd.DataFrame, measured_from: float) -> dict[str, Any]:
    measured = rows[rows["kafka_ms"] >= measured_from]["latency_ms"].to_numpy(dtype=float)
    return {
        **_percentiles(measured),
        "all_rows": _percentiles(rows["latency_ms"].to_numpy(dtype=float)),
        "commits": int(rows["version"].nunique()),
    }


def _series(silver: pd.DataFrame, first_ms: int) -> list[dict[str, float]]:
    """Silver latency per second of produce time (p50, p95, max): does a backlog build up?"""
    if silver.empty:
        return []
    second = (silver["kafka_ms"] - first_ms) // 1000
    grouped = silver.groupby(second)["latency_ms"]
    frame = pd.DataFrame(
        {
            "p50": grouped.quantile(0.5),
            "p95": grouped.quantile(0.95),
            "max": grouped.max(),
        }
    )
    return [
        {"t": int(t), **{str(k): round(float(v) / 1000, 3) for k, v in row.items()}}
        for t, row in zip(frame.index.tolist(), frame.to_dict("records"), strict=True)
    ]


def _gold_lag(
    lake: Path,
    bronze: pd.DataFrame,
    start_us: int,
    measured_from: float,
    watermark_s: int,
    bar_s: int,
) -> dict[str, Any]:
    """Bar finalisation lag (see the module docstring) of the bars closed in the window."""
    columns = ["symbol", "window_start", "window_end", "tick_count", "last_tick_at"]
    versions = deltalog.visible_rows(lake / "gold", columns)
    if versions.empty:
        return {"count": 0}
    versions["start_us"] = _as_us(versions["window_start"])
    versions["end_us"] = _as_us(versions["window_end"])
    versions["last_us"] = _as_us(versions["last_tick_at"])
    versions = versions[versions["start_us"] >= start_us - bar_s * 1_000_000]
    keys = ["symbol", "start_us"]
    final = versions.sort_values("version").groupby(keys).tail(1)
    merged = versions.merge(
        final[[*keys, "tick_count", "last_us"]], on=keys, suffixes=("", "_final")
    )
    reached = merged[
        (merged["tick_count"] == merged["tick_count_final"])
        & (merged["last_us"] == merged["last_us_final"])
    ]
    bars = reached.groupby(keys).agg(final_ms=("committed_ms", "min"), end_us=("end_us", "first"))
    bars = bars.reset_index()

    # The closing tick of a bar: the first tick produced with event_time >= end + watermark.
    ticks = bronze.sort_values("event_us")
    event_us = ticks["event_us"].to_numpy()
    suffix_min = np.minimum.accumulate(ticks["kafka_ms"].to_numpy()[::-1])[::-1]
    at = np.searchsorted(event_us, bars["end_us"].to_numpy() + watermark_s * 1_000_000)
    closed = at < len(event_us)
    bars = bars[closed].copy()
    bars["closing_ms"] = suffix_min[at[closed]]
    bars = bars[bars["closing_ms"] >= measured_from]

    # The bar's own last tick, for `last_tick_to_final`.
    ticks = ticks.assign(start_us=ticks["event_us"] - ticks["event_us"] % (bar_s * 1_000_000))
    last_tick = ticks.groupby(["symbol", "start_us"])["kafka_ms"].max().rename("last_tick_ms")
    bars = bars.join(last_tick, on=keys)
    lag = (bars["final_ms"] - bars["closing_ms"]).to_numpy(dtype=float)
    own = (bars["final_ms"] - bars["last_tick_ms"]).dropna().to_numpy(dtype=float)
    return {**_percentiles(lag), "last_tick_to_final": _percentiles(own)}


def _training_cycles(lake: Path) -> list[tuple[int, int, str]]:
    """(start ms, end ms, status) of each cycle that wrote its run: trained_at to the commit
    that added its gold_ml row."""
    table = lake / "gold_ml"
    if not (table / "_delta_log").exists():
        return []
    rows = deltalog.visible_rows(table, ["trained_at", "status"])
    if rows.empty:
        return []
    starts = _as_us(rows["trained_at"]) // 1000
    return [
        (int(s), int(e), str(status))
        for s, e, status in zip(starts, rows["committed_ms"], rows["status"], strict=True)
    ]


def _during_cycles(
    silver: pd.DataFrame, measured_from: float, cycles: list[tuple[int, int, str]]
) -> dict[str, Any]:
    """Produce -> Silver latency of the ticks produced while a training cycle ran, and of the
    others, in the same run."""
    rows = silver[silver["kafka_ms"] >= measured_from]
    inside = np.zeros(len(rows), dtype=bool)
    kafka_ms = rows["kafka_ms"].to_numpy()
    for start, end, _ in cycles:
        inside |= (kafka_ms >= start) & (kafka_ms <= end)
    latency = rows["latency_ms"].to_numpy(dtype=float)
    return {
        "cycles": [
            {"start_ms": s, "end_ms": e, "seconds": (e - s) / 1000, "status": st}
            for s, e, st in cycles
        ],
        "silver_during_cycles": _percentiles(latency[inside]),
        "silver_outside_cycles": _percentiles(latency[~inside]),
    }
