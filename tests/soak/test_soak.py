"""The soak: the continuous service at a steady tick rate with short retention and frequent
maintenance, so that half an hour reaches the steady state a week at the defaults would. Every
sample (`--soak-sample-s`) records per table live data, data on disk and `_delta_log` files and
MB, model folders, memory by role (and of the service and the producer apart from the Python
workers below them) and the ingest batches' p95 duration. It writes
bench/results/soak-<stamp>.json and a picture, soak-<stamp>.png, and passes when every series
that must be bounded levelled off: its mean over the last third of the run is within 15% of the
second third's (a series growing linearly grows by about 40% between them).

Bounded: live files (compaction) and data files on disk (VACUUM) of every table, model folders,
memory, threads and processes, ingest p95. Growing by design, reported only: bytes of data (the
lake keeps every tick) and the `_delta_log`, which Delta truncates at the first checkpoint after
midnight UTC plus the log retention, so only a run across midnight sees it fall (the README's
soak of 3-4 December).

`make soak` runs it (30 minutes at 2,000 ticks/s; `make soak ARGS="--soak-minutes 60"`), not
`make test`, which runs only the verdict's own tests below.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.harness import RESULTS_DIR, Workspace, new_stamp, wait_for
from bench.memory import MB, MemorySampler, is_jvm
from bench.report import save_json
from financelake.catalog import INGEST_QUERY
from financelake.children import cli_command
from financelake.config import TABLES, Settings
from financelake.lake.progress import read_history
from financelake.lake.read import table_summaries, table_summary

# Growth between the second and last third of the run under which a series counts as levelled.
LEVEL_TOLERANCE = 0.15
RETAINED = ("vacuum", "log", "predictions", "equity")  # each `<name>_retention` is the retention
BOUNDED = (".live_files", ".disk_files", "rss_mb", ".threads", ".processes")


@dataclass(frozen=True)
class SoakOptions:
    minutes: float
    rate: float
    sample_s: float
    retention: str
    maintenance_s: float
    training_window: str
    keep: bool

    @classmethod
    def of(cls, config: pytest.Config) -> SoakOptions:
        return cls(*(config.getoption(f"soak_{name}") for name in cls.__dataclass_fields__))


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
    live, RSS) against UTC time: a picture, because the README can show one and not a page."""
    import matplotlib  # the dev extra's, through MLflow

    matplotlib.use("Agg")
    from matplotlib import pyplot

    samples = summary["samples"]
    started = datetime.fromisoformat(summary["started_utc"])
    kinds = ("log_files", "disk_files", "live_files", "rss_mb")
    figure, axes = pyplot.subplots(len(kinds), 1, figsize=(10, 11), sharex=True)
    for axis, kind in zip(axes, kinds, strict=True):
        for name in (n for n in _series_names(samples) if n.endswith(f".{kind}")):
            points = [
                (started + timedelta(seconds=s["at_s"]), s[name]) for s in samples if name in s
            ]
            axis.plot(*zip(*points, strict=True), label=name.rsplit(".", 1)[0])
        axis.set_ylabel(kind)
        axis.legend(fontsize="small", ncol=4)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("UTC")
    figure.suptitle(
        f"FinanceLake soak: {summary['rate']:,.0f} ticks/s, retention {summary['retention']}, "
        f"maintenance every {summary['maintenance_s']:.0f} s"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)


def python_parts(name: str, pid: int) -> dict[str, float]:
    """The Python side of one watched tree, split so the soak can say which part grows:
    `<name>.rss_mb` and `<name>.threads` (the process itself), `<name>_workers.rss_mb` and
    `<name>_workers.processes` (the Python below it: the workers PySpark forks and may keep)."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        workers = []
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker may end while it is read
                if not is_jvm(child):
                    workers.append(child.memory_info().rss / MB)
        return {
            f"{name}.rss_mb": root.memory_info().rss / MB,
            f"{name}.threads": root.num_threads(),
            f"{name}_workers.rss_mb": sum(workers),
            f"{name}_workers.processes": len(workers),
        }
    return {}


def run_soak(options: SoakOptions) -> dict[str, Any]:
    """Run the service and a producer for `options.minutes`, sampling; the summary."""
    stamp = new_stamp()
    ws = Workspace(f"soak-{stamp}", keep=options.keep)
    samples: list[dict[str, float]] = []
    try:
        ws.start_broker()
        retention = {f"{name}_retention": options.retention for name in RETAINED}
        # The simulated market runs ahead of the clock: without a wide future guard its ticks
        # would all be quarantined as `future` (as in the bench's L).
        config = ws.new_topic(
            "soak", ws.path("lake"), keep_models=5, compact_interval_s=options.maintenance_s,
            max_future="3650 days", training_window=options.training_window, **retention,
        )  # fmt: skip
        rate = str(options.rate)
        produce = ["produce", "--count", "0", "--rate", rate, "--tick-interval", "0.5"]
        with MemorySampler(ws.broker_pid, interval_s=options.sample_s) as memory:
            service = ws.spawn(cli_command("run"), "service", config)
            producer = ws.spawn(cli_command(*produce), "producer", config)
            memory.watch(service.pid)
            memory.watch(producer.pid)
            wait_for(
                lambda: table_summary(config.table_path("silver")).exists, 600, "Silver", service
            )
            started, started_utc = time.monotonic(), datetime.now(UTC)
            last = started_utc
            while time.monotonic() - started < options.minutes * 60:
                # The run's own pace: one sample per interval, nothing else waits on it.
                wait_for(
                    partial(lambda seen: len(memory.series) > seen, len(memory.series)),
                    2 * options.sample_s,
                    "a memory sample",
                )
                for child, name in ((service, "service"), (producer, "producer")):
                    if child.poll() is not None:
                        raise RuntimeError(f"{name} exited early; {ws.tail(name)}")
                rss = {f"{k}.rss_mb": v for k, v in memory.series[-1].items() if k != "t"}
                rss |= python_parts("service", service.pid) | python_parts("producer", producer.pid)
                sample = {"at_s": time.monotonic() - started, **sample_lake(config, last), **rss}
                last = datetime.now(UTC)
                samples.append(sample)
                rounded = {k: round(v, 1) for k, v in sample.items()}
                print(f"{sample['at_s'] / 60:5.1f} min: {rounded}", flush=True)  # progress
    finally:
        ws.close()
    summary = {
        "stamp": stamp,
        **{name: getattr(options, name) for name in SoakOptions.__dataclass_fields__},
        "started_utc": started_utc.isoformat(),
        "levelled": levelled(samples),
        "samples": samples,
    }
    save_json(summary, RESULTS_DIR / f"soak-{stamp}.json")
    write_picture(summary, RESULTS_DIR / f"soak-{stamp}.png")
    return summary


@pytest.mark.soak
def must_be_bounded(series: str) -> bool:
    """Whether the soak fails when `series` keeps growing (see the module's docstring)."""
    return series in ("model_folders", "ingest_p95_s") or series.endswith(BOUNDED)


def unbounded(verdicts: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The growth of each series that must be bounded and did not level off."""
    return {
        name: verdict["growth"]
        for name, verdict in verdicts.items()
        if must_be_bounded(name) and verdict["levelled"] is False
    }


@pytest.mark.soak
def test_every_bounded_series_levels_off(request: pytest.FixtureRequest) -> None:
    summary = run_soak(SoakOptions.of(request.config))
    verdicts = summary["levelled"]
    for name, verdict in sorted(verdicts.items()):
        state = {True: "levelled", False: "GROWING", None: "n/a"}[verdict["levelled"]]
        kind = "bounded" if must_be_bounded(name) else "grows by design"
        print(f"{name:40s} {state:9s} max {verdict.get('max', float('nan')):10.1f}  {kind}")
    print(f"summary: {RESULTS_DIR}/soak-{summary['stamp']}.json, its picture .png beside it")
    growing = unbounded(verdicts)
    assert not growing, f"bounded series still growing (last third against the second): {growing}"


def test_a_series_growing_linearly_is_growing_and_a_sawtooth_levels_off() -> None:
    ramp = [{"at_s": t, "a.log_files": 10.0 * t} for t in range(30)]
    saw = [{"at_s": t, "a.log_files": float(t % 5), "a.rss_mb": 500.0} for t in range(30)]
    assert levelled(ramp)["a.log_files"]["levelled"] is False
    assert levelled(ramp)["a.log_files"]["growth"] > 0.4
    assert {name: v["levelled"] for name, v in levelled(saw).items()} == {
        "a.log_files": True,
        "a.rss_mb": True,
    }


def test_data_bytes_and_the_log_may_grow_files_and_memory_may_not() -> None:
    ramp = [
        {"at_s": t, "bronze.disk_mb": t, "bronze.log_files": t, "silver.disk_files": t}
        for t in range(1, 31)
    ]
    assert list(unbounded(levelled(ramp))) == ["silver.disk_files"]


def test_a_series_with_too_few_samples_is_not_judged() -> None:
    assert levelled([{"at_s": t, "x": float(t)} for t in range(5)])["x"]["levelled"] is None
