"""Peak resident memory of the broker, the Spark driver JVM and the product's Python processes.

A background thread samples the process trees every 0.5 s with psutil. Each process counts in one
role: the broker (its JVM), `spark_jvm` (any other java process in a watched tree: the driver
that pyspark launches), `python` (every python process in a watched tree), `other`. The bench's
own process is never watched. Peaks are per role and of the total of one sample, so the total
peak is a moment's sum, not the sum of peaks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

ROLES = ("broker", "spark_jvm", "python", "other")
MB = 1024 * 1024


@dataclass
class RssSampler:
    """`with RssSampler(broker_pid, [child_pid]) as sampler:` ... then `sampler.report()`."""

    broker_pid: int | None
    roots: list[int] = field(default_factory=list)
    interval_s: float = 0.5
    _series: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0
    _other_names: set[str] = field(default_factory=set)

    def watch(self, pid: int) -> None:
        """Add the tree of `pid` (a child started after the sampler)."""
        self.roots.append(pid)

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._series.append((time.monotonic() - self._started, self.sample()))
            self._stop.wait(self.interval_s)

    def sample(self) -> dict[str, float]:
        """MB resident per role right now."""
        usage = dict.fromkeys(ROLES, 0.0)
        seen: set[int] = set()
        for process in self._processes():
            if process.pid in seen:
                continue
            seen.add(process.pid)
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                rss = process.memory_info().rss / MB
                usage[self._role(process)] += rss
        return usage

    def _processes(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for pid in [p for p in (self.broker_pid, *self.roots) if p is not None]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                root = psutil.Process(pid)
                found.append(root)
                found.extend(root.children(recursive=True))
        return found

    def _role(self, process: psutil.Process) -> str:
        if process.pid == self.broker_pid:
            return "broker"
        name = process.name().lower()
        with contextlib.suppress(psutil.Error):
            name += " " + process.exe().rsplit("/", 1)[-1].lower()
        if "java" in name:
            return "spark_jvm"
        if "python" in name:
            return "python"
        self._other_names.add(name)
        return "other"

    def report(self) -> dict[str, Any]:
        """Peaks (MB) per role and of the total, and the series for the chart."""
        if not self._series:
            return {"samples": 0}
        totals = [sum(usage.values()) for _, usage in self._series]
        peak_at = max(range(len(totals)), key=totals.__getitem__)
        return {
            "samples": len(self._series),
            "other_processes": sorted(self._other_names),
            "interval_s": self.interval_s,
            "peak_mb": {
                **{role: round(max(u[role] for _, u in self._series), 1) for role in ROLES},
                "total": round(totals[peak_at], 1),
            },
            "at_total_peak_mb": {role: round(self._series[peak_at][1][role], 1) for role in ROLES},
            "series": [
                {"t": round(t, 1), **{role: round(u[role], 1) for role in ROLES}}
                for t, u in self._series
            ],
        }
