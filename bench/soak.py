"""Soak: the continuous service at a steady tick rate with short retention and frequent
maintenance (half an hour reaches the steady state a week at the defaults would). Every
`--sample-s` it records per table live data, data on disk and `_delta_log` files and MB, model
folders, RSS by role (and of the service and producer apart from the Python workers below them)
and the ingest batches' p95 duration; it writes bench/results/soak-<stamp>.json and .png and
prints whether each series levelled off: its mean over the last third of the run against the
second third (a series growing linearly grows by about 40% between them)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import RESULTS_DIR, Workspace, new_stamp, setup_process
from bench.memory import MB, MemorySampler, python_parts
from bench.report import picture, save_json
from financelake.catalog import INGEST_QUERY
from financelake.children import cli_command, log_tail, wait_until
from financelake.config import TABLES, Settings
from financelake.lake.progress import read_history
from financelake.lake.read import table_summaries, table_summary

log = logging.getLogger("bench.soak")
# Growth between the second and last third of the run under which a series counts as levelled.
LEVEL_TOLERANCE = 0.15
RETAINED = ("vacuum", "log", "predictions", "equity")  # each `<name>_retention` is --retention


def sample_lake(config: Settings, since: datetime) -> dict[str, float]:
    """One sample of the lake (delta-rs and the file system, no JVM): `<table>.live_files`,
    `.live_mb` (the snapshot's, bounded by compaction), `.disk_files`, `.disk_mb` (every data
    file in the folder, bounded by VACUUM), `.log_files`, `.log_mb`; `model_folders`;
    `ingest_p95_s` (batches since `since`)."""
    sample: dict[str, float] = {}
    for name, summary in table_summaries(config, TABLES).items():
        if not summary.exists:
            continue
        folder = Path(config.table_path(name))
        log_files = _sizes((folder / "_delta_log").iterdir())
        data_files = _sizes(f for f in folder.rglob("*.parquet") if "_delta_log" not in f.parts)
        sample |= {
            f"{name}.live_files": summary.files,
            f"{name}.live_mb": summary.size_bytes / MB,
            f"{name}.disk_files": len(data_files),
            f"{name}.disk_mb": sum(data_files) / MB,
            f"{name}.log_files": len(log_files),
            f"{name}.log_mb": sum(log_files) / MB,
        }
    models = Path(config.models_path) / "classifier"
    sample["model_folders"] = len(list(models.iterdir())) if models.exists() else 0
    durations = [
        line.trigger_ms / 1000
        for line in read_history(config.lake_root, INGEST_QUERY)
        if line.timestamp is not None and line.timestamp >= since and line.trigger_ms is not None
    ]
    if len(durations) >= 2:
        sample["ingest_p95_s"] = statistics.quantiles(durations, n=20)[-1]
    return sample


def _sizes(paths: Iterable[Path]) -> list[int]:
    """Sizes of the files among `paths` that still exist: Delta's temporary files (hidden) and
    files VACUUM deletes can vanish between the listing and the `stat`."""
    sizes = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            if not path.name.startswith("."):
                sizes.append(path.stat().st_size)
    return sizes


def _series_names(samples: list[dict[str, float]]) -> list[str]:
    """Every series the samples hold, in the order first seen (a table appears when created)."""
    return list(dict.fromkeys(k for sample in samples for k in sample if k != "at_s"))


def levelled(samples: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per series: mean of the second and last thirds and whether it stopped growing."""
    names = _series_names(samples)
    verdicts: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [sample[name] for sample in samples if name in sample]
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


def write_picture(summary: dict[str, Any], path: Path) -> None:
    """A PNG of the series that decide whether the lake is bounded (log, data files on disk and
    live, RSS) against UTC time."""
    samples = summary["samples"]
    started = datetime.fromisoformat(summary["started_utc"])
    kinds = ("log_files", "disk_files", "live_files", "rss_mb")
    title = (
        f"FinanceLake soak: {summary['rate']:,.0f} ticks/s, retention {summary['retention']}, "
        f"maintenance every {summary['maintenance_s']:.0f} s"
    )
    with picture(path, len(kinds), title) as axes:
        for axis, kind in zip(axes, kinds, strict=True):
            for name in (n for n in _series_names(samples) if n.endswith(f".{kind}")):
                at = [started + timedelta(seconds=s["at_s"]) for s in samples if name in s]
                axis.plot(at, [s[name] for s in samples if name in s], label=name.rsplit(".", 1)[0])
            axis.set_ylabel(kind)
        axes[-1].set_xlabel("UTC")


def soak(args: argparse.Namespace) -> dict[str, Any]:
    stamp = new_stamp()
    ws = Workspace(f"soak-{stamp}", keep=args.keep)
    samples: list[dict[str, float]] = []
    try:
        ws.start_broker()
        retention = {f"{name}_retention": args.retention for name in RETAINED}
        # The simulated market runs ahead of the clock: without a wide future guard its ticks
        # would all be quarantined as `future` (as in L).
        config = ws.new_topic(
            "soak", ws.path("lake"), keep_models=5, compact_interval_s=args.maintenance_s,
            max_future="3650 days", training_window=args.training_window, **retention,
        )  # fmt: skip
        produce = ["produce", "--count", "0", "--rate", str(args.rate), "--tick-interval", "0.5"]
        with MemorySampler(ws.broker_pid, interval_s=args.sample_s) as memory:
            service = ws.spawn(cli_command("run"), "service", config)
            producer = ws.spawn(cli_command(*produce), "producer", config)
            memory.watch(service.pid)
            memory.watch(producer.pid)
            wait_until(
                lambda: table_summary(config.table_path("silver")).exists, 600, "Silver",
                children=[service], log_path=ws.log_file("service"),
            )  # fmt: skip
            started, started_utc = time.monotonic(), datetime.now(UTC)
            last = started_utc
            while time.monotonic() - started < args.minutes * 60:
                # The run's own pace: one sample per interval of the memory sampler.
                latest = memory.next_sample(timeout_s=2 * args.sample_s)
                for child, name in ((service, "service"), (producer, "producer")):
                    if child.poll() is not None:
                        raise RuntimeError(f"{name} exited early" + log_tail(ws.log_file(name)))
                rss = {f"{k}.rss_mb": v for k, v in latest.items() if k != "t"}
                rss |= python_parts("service", service.pid) | python_parts("producer", producer.pid)
                sample = {"at_s": time.monotonic() - started, **sample_lake(config, last), **rss}
                last = datetime.now(UTC)
                samples.append(sample)
                rounded = {k: round(v, 1) for k, v in sample.items()}
                log.info("%5.1f min: %s", sample["at_s"] / 60, rounded)
    finally:
        ws.close()
    verdicts = levelled(samples)
    summary = {
        "stamp": stamp,
        "minutes": args.minutes,
        "rate": args.rate,
        "retention": args.retention,
        "maintenance_s": args.maintenance_s,
        "training_window": args.training_window,
        "started_utc": started_utc.isoformat(),
        "levelled": verdicts,
        "all_levelled": all(v["levelled"] is not False for v in verdicts.values()),
        "samples": samples,
    }
    save_json(summary, RESULTS_DIR / f"soak-{stamp}.json")
    write_picture(summary, RESULTS_DIR / f"soak-{stamp}.png")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="ticks per second")
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--retention", default="10 minutes")
    parser.add_argument("--maintenance-s", type=float, default=120.0)
    # The market runs ~220x faster than the clock here: a day of bars in about seven minutes.
    parser.add_argument("--training-window", default="1 day", help="market time trained on")
    parser.add_argument("--keep", action="store_true", help="keep the lake and broker data")
    parser.add_argument(
        "--redraw", type=Path, metavar="SUMMARY", help="only redraw a saved soak-<stamp>.json"
    )
    args = parser.parse_args()
    if args.redraw:
        write_picture(json.loads(args.redraw.read_text()), args.redraw.with_suffix(".png"))
        return
    setup_process()
    summary = soak(args)
    for name, verdict in sorted(summary["levelled"].items()):
        state = {True: "levelled", False: "GROWING", None: "n/a"}[verdict["levelled"]]
        print(f"{name:40s} {state:9s} max {verdict.get('max', float('nan')):10.1f}")
    print(f"summary: {RESULTS_DIR}/soak-{summary['stamp']}.json, its picture .png beside it")


if __name__ == "__main__":
    main()
