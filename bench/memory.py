"""M: memory of the watched process trees by role, sampled by a thread with psutil: `broker`
(its JVM), `spark_jvm` (any other java process: the driver pyspark launches), `python` (the
rest). The bench's own process is never watched. The peak total is one sample's sum.

Each process counts its proportional set size (PSS: a page shared by n processes counts 1/n)
where Linux reports it, else its resident size. PySpark forks its Python workers from one daemon
and they share its pages: a sum of resident sizes counted those pages once per worker."""

from __future__ import annotations

import contextlib
import threading
import time
from functools import partial
from typing import Any

import psutil

from bench.harness import Workspace
from financelake.children import cli_command, wait_until
from financelake.kafka.broker import free_port
from financelake.lake.read import table_summary

ROLES = ("broker", "spark_jvm", "python")
MB = 1024 * 1024


class MemorySampler:
    """`with MemorySampler(broker_pid) as sampler: sampler.watch(pid)` ... `sampler.report()`."""

    def __init__(self, broker_pid: int | None, interval_s: float = 0.5) -> None:
        self.broker_pid = broker_pid
        self.roots: list[int] = [] if broker_pid is None else [broker_pid]
        self.interval_s = interval_s
        self.series: list[dict[str, float]] = []
        self._sampled = threading.Condition()  # notified at each sample, for `next_sample`
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, pid: int) -> None:
        self.roots.append(pid)

    def __enter__(self) -> MemorySampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            point = {"t": round(time.monotonic() - self._started, 1), **self.sample()}
            with self._sampled:
                self.series.append(point)
                self._sampled.notify_all()

    def next_sample(self, timeout_s: float) -> dict[str, float]:
        """Block until the sampler records its next sample; that sample (MB per role)."""
        with self._sampled:
            seen = len(self.series)
            if not self._sampled.wait_for(lambda: len(self.series) > seen, timeout_s):
                raise TimeoutError(f"no memory sample within {timeout_s:.0f} s")
            return self.series[-1]

    def sample(self) -> dict[str, float]:
        """MB resident per role right now."""
        usage = dict.fromkeys(ROLES, 0.0)
        for process in self._processes().values():
            with contextlib.suppress(psutil.Error):
                usage[self._role(process)] += _proportional_mb(process)
        return usage

    def _processes(self) -> dict[int, psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                found |= {p.pid: p for p in [root, *root.children(recursive=True)]}
        return found

    def _role(self, process: psutil.Process) -> str:
        if process.pid == self.broker_pid:
            return "broker"
        return "spark_jvm" if _is_jvm(process) else "python"

    def report(self) -> dict[str, Any]:
        """`peak_<role>_mb`, `peak_total_mb` and the series (MB per role, for the chart)."""
        if not self.series:
            return {"series": []}
        totals = [sum(s[r] for r in ROLES) for s in self.series]
        return {
            **{f"peak_{role}_mb": round(max(s[role] for s in self.series)) for role in ROLES},
            "peak_total_mb": round(max(totals)),
            "series": self.series,
        }


def demo_memory(ws: Workspace, seconds: float) -> dict[str, Any]:
    """`financelake demo` (market, pipeline with training, dashboard) on the bench's broker,
    sampled for `seconds` once its Silver table exists, then SIGTERM."""
    root = ws.path("demo")
    # Created first: the demo starts market and pipeline together, and the pipeline's
    # preflight fails when it looks before the market has created a new topic.
    config = ws.new_topic(f"demo-{ws.stamp}", root)
    with MemorySampler(ws.broker_pid) as sampler:
        demo = ws.spawn(cli_command("demo", "--port", str(free_port())), "demo", config)
        sampler.watch(demo.pid)
        try:
            wait = partial(wait_until, children=[demo], log_path=ws.log_file("demo"))
            wait(lambda: table_summary(config.table_path("silver")).exists, 600, "demo")
            ready = time.monotonic()
            # The demo runs on its own: this waits out the sampling window, it sequences nothing.
            wait(lambda: time.monotonic() - ready >= seconds, seconds + 5, "window")
        finally:
            stop_s = ws.stop(demo, timeout_s=90)
    rows = table_summary(config.table_path("silver")).rows
    ws.drop(root)
    return {"silver_rows": rows, "stop_s": stop_s, "memory": sampler.report()}


def python_parts(name: str, pid: int) -> dict[str, float]:
    """The Python side of one watched tree, split so a soak can say which part grows:
    `<name>.rss_mb` and `<name>.threads` (the process itself), `<name>_workers.rss_mb` and
    `<name>_workers.processes` (the Python below it: the workers PySpark forks and may keep)."""
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        workers = []
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker may end while it is read
                if not _is_jvm(child):
                    workers.append(child.memory_info().rss / MB)
        return {
            f"{name}.rss_mb": root.memory_info().rss / MB,
            f"{name}.threads": root.num_threads(),
            f"{name}_workers.rss_mb": sum(workers),
            f"{name}_workers.processes": len(workers),
        }
    return {}


def _proportional_mb(process: psutil.Process) -> float:
    """PSS in MB from /proc/<pid>/smaps_rollup (Linux 4.14+; one summary, cheap to read every
    half second, unlike psutil's full smaps walk), else RSS."""
    with (
        contextlib.suppress(OSError, ValueError),
        open(f"/proc/{process.pid}/smaps_rollup") as rollup,
    ):
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024  # kB
    return float(process.memory_info().rss) / MB


def _is_jvm(process: psutil.Process) -> bool:
    return "java" in process.name().lower()
