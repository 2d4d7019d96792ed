"""L (and T's second half): the continuous service under a paced producer, measured afterwards
from the tables' Delta commits, never from a clock the bench keeps (bench/README.md, *L latency*).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np
import pandas as pd

from bench import spark_jobs
from bench.harness import Sizes, Workspace
from bench.throughput import Figures, files_by_table
from financelake.catalog import GOLD_QUERY, INGEST_QUERY, STREAMED_TABLES
from financelake.children import cli_command, wait_until
from financelake.config import Settings
from financelake.lake.history import commits, rows_by_commit
from financelake.lake.kafka_offsets import TopicOffsets
from financelake.lake.progress import read_progress
from financelake.lake.read import table_summaries, table_summary
from financelake.market.publisher import produce
from financelake.market.simulator import DEFAULT_SYMBOLS
from financelake.service_state import read_state
from financelake.status.streams import stream_status

log = logging.getLogger("bench")

MARKET_SPEEDUP = 25.0  # market seconds per wall second, as in the demo
HISTORY_BARS = 2_000
QUANTILES = (50, 95, 99)


def continuous_run(ws: Workspace, rate: float, sizes: Sizes, train: bool = False) -> Figures:
    """One continuous run at `rate` ticks/s with the windows of `sizes` (training every
    `sizes.train_interval_s` with `train`): its figures, plus `series` (Silver latency by
    second) and `files` (F) for the caller."""
    name = f"latency-{rate:.0f}" + ("-train" if train else "")
    # The market runs faster than the clock: its ticks are "future" to ingest by design.
    config = ws.new_topic(f"{name}-{ws.stamp}", ws.path(name), max_future="3650 days")
    live_start = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    history = _produce_history(config, sizes.history_ticks, live_start)
    training = ["--train-interval", str(sizes.train_interval_s)] if train else ["--no-train"]
    service = ws.spawn(cli_command("run", *training), name, config)
    wait = partial(wait_until, children=[service], log_path=ws.log_file(name))
    try:
        ready_s = wait(
            lambda: read_progress(config.lake_root, INGEST_QUERY) is not None, 600, "service start"
        )
        wait(lambda: caught_up(config, history), 600, "history drain")
        report, _ = ws.run_worker(
            f"{name}-producer", config, "produce", "--count", str(round(rate * sizes.window_s)),
            "--rate", str(rate), "--start", live_start.isoformat(),
            "--tick-interval", str(MARKET_SPEEDUP * len(DEFAULT_SYMBOLS) / rate),
        )  # fmt: skip
        if not report["ok"]:
            raise RuntimeError(f"the paced producer failed: {report}")
        wait(lambda: caught_up(config, history + report["sent"]), 600, "live drain")
        state = read_state(config.lake_root)
        jobs = spark_jobs.jobs_by_batch(state.spark_ui_url) if state and state.spark_ui_url else {}
    finally:
        # Twice the service's own shutdown budget, then SIGKILL: recorded, not hidden.
        stop_s = ws.stop(service, timeout_s=60)
    figures, series = analyse(config, live_start, sizes.warmup_s)
    figures |= spark_jobs.per_batch_figures(jobs, spark_jobs.commits_by_batch(config))
    figures |= {
        "service_ready_s": ready_s,
        "producer_ticks_per_s": report["ticks_per_s"],
        "shutdown_s": stop_s,
        "shutdown_exit_code": service.returncode,  # -9: it had to be killed
        "series": series,
        "files": files_by_table(config, STREAMED_TABLES),
    }
    ws.drop(ws.path(name))
    return figures


def _produce_history(config: Settings, ticks: int, live_start: datetime) -> int:
    """Ticks in the market's past, ending a few bars before `live_start`, sent at full speed."""
    if ticks <= 0:
        return 0
    interval = HISTORY_BARS * config.bar_seconds / ticks  # market seconds between a symbol's ticks
    span = timedelta(seconds=interval * ticks / len(DEFAULT_SYMBOLS))
    start = live_start - span - timedelta(seconds=3 * config.bar_seconds + config.watermark_seconds)
    report = produce(config, count=ticks, rate=0, tick_interval_s=interval, start=start)
    if not report.ok:
        raise RuntimeError(f"history producer failed: {report}")
    return report.sent


def caught_up(config: Settings, ticks: int) -> bool:
    """Silver + Quarantine hold `ticks` rows and Gold lags Silver by no data version (the lag
    `financelake status` reports; Kafka is not asked)."""
    tables = table_summaries(config, ("silver", "quarantine"))
    if tables["silver"].rows + tables["quarantine"].rows < ticks:
        return False
    unasked = TopicOffsets(config.topic, error="not asked")
    return stream_status(config, GOLD_QUERY, unasked, tables, datetime.now(UTC)).lag == 0


# Analysis ---------------------------------------------------------------------------------
def _committed(config: Settings, name: str, columns: list[str]) -> pd.DataFrame:
    path = config.table_path(name)
    frame: pd.DataFrame = rows_by_commit(path, columns, commits(path)).to_pandas()
    return frame


def _us(column: pd.Series) -> np.ndarray:
    """Timestamps (tz-aware or naive UTC) as integer microseconds since the epoch."""
    values = pd.to_datetime(column, utc=True)
    return np.asarray((values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1))


def _live_ticks(config: Settings, name: str, start_us: int) -> pd.DataFrame:
    rows = _committed(config, name, ["kafka_timestamp", "event_time", "symbol"])
    rows = rows.dropna(subset=["event_time"])
    rows = rows.assign(
        event_us=_us(rows["event_time"]), kafka_ms=_us(rows["kafka_timestamp"]) // 1000
    )
    rows = rows[rows["event_us"] >= start_us]  # the history's ticks are older
    return rows.assign(latency_ms=rows["committed_ms"] - rows["kafka_ms"])


def percentiles(prefix: str, millis: np.ndarray) -> Figures:
    """`<prefix>_p50_s`, `_p95_s`, `_p99_s` and `_count` of latencies in milliseconds."""
    if len(millis) == 0:
        return {f"{prefix}_count": 0}
    seconds = np.percentile(millis, QUANTILES) / 1000
    figures = {
        f"{prefix}_p{q}_s": round(float(v), 3) for q, v in zip(QUANTILES, seconds, strict=True)
    }
    return figures | {f"{prefix}_count": len(millis)}


def closed_bar_lag_ms(bars: pd.DataFrame, ticks: pd.DataFrame, watermark_s: int) -> pd.DataFrame:
    """Bars (symbol, window_end, committed_ms) that a tick (symbol, event_us, kafka_ms) closed,
    with `closing_ms`, the produce time of the symbol's first tick at or past window_end +
    watermark (the market runs ahead of the clock), and `lag_ms`, the commit time minus it."""
    parts = []
    for symbol, own in bars.groupby("symbol"):
        mine = ticks[ticks["symbol"] == symbol].sort_values("event_us")
        if mine.empty:
            continue
        # The earliest produce time among the ticks at or after each event time.
        first_after = np.minimum.accumulate(mine["kafka_ms"].to_numpy()[::-1])[::-1]
        closes_at = _us(own["window_end"]) + watermark_s * 1_000_000
        at = np.searchsorted(mine["event_us"].to_numpy(), closes_at)
        closed = at < len(mine)
        part = own[closed].assign(closing_ms=first_after[at[closed]])
        parts.append(part.assign(lag_ms=part["committed_ms"] - part["closing_ms"]))
    return pd.concat(parts) if parts else pd.DataFrame(columns=["closing_ms", "lag_ms"])


def analyse(
    config: Settings, live_start: datetime, warmup_s: float
) -> tuple[Figures, list[dict[str, float]]]:
    """Latency percentiles, closed-bar lag and training-cycle split of one run, from its lake;
    and Silver's latency by second of the window (a rising line is a backlog)."""
    start_us = int(live_start.replace(tzinfo=UTC).timestamp() * 1_000_000)
    bronze = _live_ticks(config, "bronze", start_us)
    silver = _live_ticks(config, "silver", start_us)
    if silver.empty:
        raise RuntimeError("no live tick reached Silver")
    first_ms = int(silver["kafka_ms"].min())
    measured_from_ms = first_ms + warmup_s * 1000
    measured = silver[silver["kafka_ms"] >= measured_from_ms]
    figures = percentiles(
        "bronze", bronze[bronze["kafka_ms"] >= measured_from_ms]["latency_ms"].to_numpy()
    ) | percentiles("silver", measured["latency_ms"].to_numpy())

    gold = _committed(config, "gold", ["symbol", "window_start", "window_end"])
    gold = gold.groupby(["symbol", "window_start"], as_index=False).agg(
        window_end=("window_end", "first"), committed_ms=("committed_ms", "min")
    )
    lag = closed_bar_lag_ms(gold, silver, config.watermark_seconds)
    lag = lag[lag["closing_ms"] >= measured_from_ms]
    figures |= percentiles("gold_closed_lag", lag["lag_ms"].to_numpy(dtype=float))

    if table_summary(config.table_path("gold_ml")).exists:
        runs = _committed(config, "gold_ml", ["trained_at"])
        inside = np.zeros(len(measured), dtype=bool)
        for start_ms, end_ms in zip(
            _us(runs["trained_at"]) // 1000, runs["committed_ms"], strict=True
        ):
            inside |= measured["kafka_ms"].between(start_ms, end_ms).to_numpy()
        latency = measured["latency_ms"].to_numpy()
        figures |= {"training_cycles": len(runs)}
        figures |= percentiles("silver_during_cycles", latency[inside])
        figures |= percentiles("silver_outside_cycles", latency[~inside])

    second = silver.groupby((silver["kafka_ms"] - first_ms) // 1000)["latency_ms"]
    by_second = pd.DataFrame({"p50": second.quantile(0.5), "p95": second.quantile(0.95)}) / 1000
    rows = by_second.rename_axis("t").reset_index().itertuples(index=False)
    return figures, [{"t": float(t), "p50": float(p50), "p95": float(p95)} for t, p50, p95 in rows]
