"""Soak: the continuous service at a steady tick rate for a long time, with short retention, to
show that storage, the Delta log, model folders, memory and ingest time level off.

    python -m bench.soak [--minutes 30] [--rate 2000] [--sample-s 30] [--retention "10 minutes"]

Every `--sample-s` it records, per table, live data files and bytes and `_delta_log` files and
bytes; model folders; resident memory by role (broker, Spark JVM, Python: service and
producer); and the p95 of the ingest stream's batch durations over the sample. With retention of
a few minutes, half an hour reaches the steady state a week at the defaults would: maintenance
(every `--maintenance-s`) compacts, vacuums and expires as the service would.

Writes bench/results/soak-<stamp>.json and .html (a chart of every series over time), and prints
whether each series levelled off: its mean over the last third of the run against the second
third. A series that keeps growing linearly grows by about 40% between those thirds.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.harness import RESULTS_DIR, Workspace, financelake, wait_for
from bench.memory import RssSampler
from financelake.catalog import INGEST_QUERY
from financelake.config import TABLES, Settings
from financelake.lake.progress import read_history
from financelake.lake.read import table_summary

log = logging.getLogger("bench.soak")
MB = 1024 * 1024
# Growth between the second and last third of the run under which a series counts as levelled.
LEVEL_TOLERANCE = 0.15


@dataclass
class Sample:
    at_s: float
    tables: dict[str, dict[str, float]] = field(default_factory=dict)
    model_folders: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    ingest_p95_s: float | None = None
    ingest_batches: int = 0


def sample_lake(config: Settings, at_s: float, since: datetime) -> Sample:
    """One sample of the lake's size (delta-rs and the file system; no JVM)."""
    result = Sample(at_s)
    for name in TABLES:
        summary = table_summary(config.table_path(name))
        if not summary.exists:
            continue
        log_files = list((Path(config.table_path(name)) / "_delta_log").iterdir())
        result.tables[name] = {
            "live_files": summary.files,
            "live_mb": summary.size_bytes / MB,
            "log_files": len(log_files),
            "log_mb": sum(f.stat().st_size for f in log_files) / MB,
        }
    models = Path(config.models_path) / "classifier"
    result.model_folders = len(list(models.iterdir())) if models.exists() else 0
    durations = _ingest_batch_seconds(config, since)
    result.ingest_batches = len(durations)
    if len(durations) >= 2:
        result.ingest_p95_s = statistics.quantiles(durations, n=20)[-1]
    return result


def _ingest_batch_seconds(config: Settings, since: datetime) -> list[float]:
    return [
        line.trigger_ms / 1000
        for line in read_history(config.lake_root, INGEST_QUERY)
        if line.timestamp is not None and line.timestamp >= since and line.trigger_ms is not None
    ]


def levelled(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per series: mean of the second and last thirds and whether it stopped growing."""
    series: dict[str, list[float]] = {}
    for sample in samples:
        for table, figures in sample.tables.items():
            for key, value in figures.items():
                series.setdefault(f"{table}.{key}", []).append(value)
        series.setdefault("model_folders", []).append(sample.model_folders)
        for role, value in sample.rss_mb.items():
            series.setdefault(f"rss_mb.{role}", []).append(value)
        if sample.ingest_p95_s is not None:
            series.setdefault("ingest_p95_s", []).append(sample.ingest_p95_s)
    verdicts = {}
    for name, values in series.items():
        third = len(values) // 3
        if third < 2:
            verdicts[name] = {"levelled": None, "note": "too few samples"}
            continue
        middle = statistics.fmean(values[third : 2 * third])
        last = statistics.fmean(values[2 * third :])
        growth = (last - middle) / middle if middle else (0.0 if last == 0 else float("inf"))
        verdicts[name] = {
            "second_third_mean": middle,
            "last_third_mean": last,
            "growth": growth,
            "max": max(values),
            "levelled": growth <= LEVEL_TOLERANCE,
        }
    return verdicts


def write_chart(samples: list[Sample], path: Path) -> None:
    """One HTML page: a small chart per kind of series over the run's minutes."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    minutes = [s.at_s / 60 for s in samples]
    panels = ["live files", "live MB", "_delta_log files", "RSS MB", "ingest batch p95 (s)"]
    figure = make_subplots(rows=len(panels), cols=1, subplot_titles=panels, shared_xaxes=True)
    tables = sorted({t for s in samples for t in s.tables})
    for row, key in enumerate(("live_files", "live_mb", "log_files"), start=1):
        for table in tables:
            values = [s.tables.get(table, {}).get(key) for s in samples]
            figure.add_trace(go.Scatter(x=minutes, y=values, name=f"{table} {key}"), row, 1)
    figure.add_trace(
        go.Scatter(x=minutes, y=[s.model_folders for s in samples], name="model folders"), 3, 1
    )
    for role in sorted({r for s in samples for r in s.rss_mb}):
        values = [s.rss_mb.get(role) for s in samples]
        figure.add_trace(go.Scatter(x=minutes, y=values, name=f"RSS {role}"), 4, 1)
    figure.add_trace(
        go.Scatter(x=minutes, y=[s.ingest_p95_s for s in samples], name="ingest p95"), 5, 1
    )
    figure.update_layout(height=300 * len(panels), title="FinanceLake soak", xaxis5_title="minutes")
    figure.write_html(path, include_plotlyjs=True)


def soak(args: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    ws = Workspace.create(f"soak-{stamp}", keep=args.keep)
    samples: list[Sample] = []
    try:
        ws.start_broker()
        retention = {
            f"{name}_retention": args.retention
            for name in ("vacuum", "log", "predictions", "equity")
        }
        config = ws.new_topic(
            "soak", ws.path("lake"), keep_models=5, compact_interval_s=args.maintenance_s,
            **retention,
        )  # fmt: skip
        produce = ["produce", "--count", "0", "--rate", str(args.rate), "--tick-interval", "0.5"]
        with RssSampler(ws.broker_pid, interval_s=args.sample_s) as memory:
            service = ws.spawn(financelake("run"), "service", config)
            producer = ws.spawn(financelake(*produce), "producer", config)
            memory.watch(service.pid)
            memory.watch(producer.pid)
            wait_for(
                lambda: table_summary(config.table_path("silver")).exists, 600, "Silver", service
            )
            started = time.monotonic()
            last = datetime.now(UTC)
            while time.monotonic() - started < args.minutes * 60:
                # The run's own pace: one sample per interval, nothing else waits on it.
                wait_for(
                    partial(lambda seen: len(memory.series) > seen, len(memory.series)),
                    2 * args.sample_s,
                    "a memory sample",
                )
                for child, name in ((service, "service"), (producer, "producer")):
                    if child.poll() is not None:
                        raise RuntimeError(f"{name} exited early; {ws.tail(name)}")
                sample = sample_lake(config, time.monotonic() - started, last)
                sample.rss_mb = {k: v for k, v in memory.series[-1].items() if k != "t"}
                last = datetime.now(UTC)
                samples.append(sample)
                log.info(
                    "%5.1f min: silver %s; RSS %s MB; ingest p95 %s s",
                    sample.at_s / 60,
                    sample.tables.get("silver"),
                    {k: round(v) for k, v in sample.rss_mb.items()},
                    sample.ingest_p95_s,
                )
    finally:
        ws.close()
    verdicts = levelled(samples)
    summary = {
        "stamp": stamp,
        "minutes": args.minutes,
        "rate": args.rate,
        "retention": args.retention,
        "maintenance_s": args.maintenance_s,
        "levelled": verdicts,
        "all_levelled": all(v["levelled"] is not False for v in verdicts.values()),
        "samples": [asdict(s) for s in samples],
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"soak-{stamp}.json").write_text(json.dumps(summary, indent=2))
    write_chart(samples, RESULTS_DIR / f"soak-{stamp}.html")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="ticks per second")
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--retention", default="10 minutes")
    parser.add_argument("--maintenance-s", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the lake and broker data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    summary = soak(args)
    for name, verdict in sorted(summary["levelled"].items()):
        state = {True: "levelled", False: "GROWING", None: "n/a"}[verdict["levelled"]]
        print(f"{name:40s} {state:9s} max {verdict.get('max', float('nan')):10.1f}")
    print(f"summary: {RESULTS_DIR}/soak-{summary['stamp']}.json, chart: .html beside it")


if __name__ == "__main__":
    main()
