"""The bench's outputs from one results dictionary, `{"meta", "figures": {key: value},
"errors": {benchmark: message}, "series": {name: [points]}}` (keys listed in the README): the
JSON file, the markdown table (each figure beside its target) and the chart, a PNG."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

from bench.targets import TARGETS, distance
from financelake.config import REPO_ROOT, Settings

# Dependencies of financelake itself, so always installed beside it.
_PACKAGES = ("pyspark", "delta-spark", "deltalake", "confluent-kafka", "pyarrow", "pandas")
# The figures the chart shows: throughput, and latency as `l.<rate>.<layer>_p<q>_s`.
_RATE = re.compile(r"^(b1|b2|b3|p)\..*_ticks_per_s$")
_LATENCY = re.compile(r"^l\.(\d+)\.(bronze|silver|gold_closed_lag)_(p50|p95|p99)_s$")


def machine() -> dict[str, Any]:
    """Cores, memory, load, the versions of everything measured and the git commit."""
    git = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return {
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in _PACKAGES},
        "kafka_jars": sorted(p.name for p in (Settings().jars_dir / "kafka").glob("kafka_*.jar")),
        "git_commit": git.stdout.strip(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def caveats(meta: dict[str, Any]) -> list[str]:
    """What a reader must know before comparing these figures with the targets."""
    notes = []
    if meta.get("mode") == "quick":
        notes.append(
            "quick mode: small topics and short windows, where fixed costs (JVM, query and table "
            "start-up) dominate; not comparable with the targets"
        )
    cores = meta["machine"]["cores"]
    loads = [*meta["machine"]["load_average"], *meta.get("load_average_end", [])]
    if max(loads, default=0) > cores:
        notes.append(
            f"load average up to {max(loads):.1f} on {cores} cores: other work shared the "
            "machine, so the figures measure the contention too"
        )
    if meta.get("interrupted"):
        notes.append("interrupted: only the benchmarks that finished are reported")
    return notes


def value_text(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    """Notes on how to read the run, then `| key | value | target | distance |` (pastes into
    the README), failed benchmarks last."""
    lines = [f"Note: {note}" for note in caveats(results["meta"])]
    lines += ["", "| key | value | target | distance |", "|---|---|---|---|"]
    for key, value in results["figures"].items():
        target, gap = distance(key, value) if isinstance(value, int | float) else ("", "")
        lines.append(f"| `{key}` | {value_text(value)} | {target} | {gap} |")
    for bench, error in results["errors"].items():
        lines.append(f"| {bench} | failed: {error.splitlines()[0][:160]} | | |")
    missing = [key for key in TARGETS if key not in results["figures"]]
    if missing:
        lines.append(f"\nTargets without a figure in this run: {', '.join(missing)}")
    return "\n".join(lines)


def save_json(payload: Any, *paths: Path) -> Path:
    """`payload` as indented JSON at each of `paths` (folders created); the first path."""
    text = json.dumps(payload, indent=2, default=str)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return paths[0]


@contextmanager
def picture(path: Path, rows: int, title: str) -> Iterator[list[Any]]:
    """Axes of `rows` panels, one above the other, saved on exit as one PNG at `path`: a
    picture, because the README can show one and not a page."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as error:
        raise SystemExit("the bench draws with matplotlib: pip install -e '.[dev]'") from error
    # squeeze=False: a grid even for one panel, so the caller always gets a list.
    figure, grid = pyplot.subplots(
        rows, 1, figsize=(10, 3 * rows), layout="constrained", squeeze=False
    )
    axes = list(grid[:, 0])
    try:
        yield axes
        for axis in axes:
            axis.grid(alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize="small", ncol=4)
        figure.suptitle(title)
        figure.savefig(path, dpi=80)
    finally:
        pyplot.close(figure)


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Throughput, latency percentiles, Silver's p95 by second of each latency window (a rising
    line is a backlog) and the memory of all roles over time, as one PNG."""
    figures, series, meta = results["figures"], results["series"], results["meta"]
    notes = [textwrap.fill(note, 110) for note in caveats(meta)]
    title = "\n".join([f"FinanceLake bench {meta['stamp']} ({meta['mode']})", *notes])
    with picture(path, 4, title) as (rates, latency, lag, memory):
        rate_bars = {k: v for k, v in figures.items() if _RATE.match(k)}
        rates.bar(list(rate_bars), list(rate_bars.values()))
        rates.set_yscale("log")  # B1 reads Kafka 10 to 300 times faster than P ingests
        rates.set_title("throughput (ticks/s)")
        bars = {
            f"{m[1]}/s {m[2]} {m[3]}": v for k, v in figures.items() if (m := _LATENCY.match(k))
        }
        latency.bar(list(bars), list(bars.values()))
        latency.set_title("latency p50 / p95 / p99 (s)")
        for axis in (rates, latency):
            axis.tick_params(axis="x", labelrotation=30, labelsize="small")
        for name, points in series.items():
            t = [p["t"] for p in points]
            if name.startswith("l."):
                lag.plot(t, [p["p95"] for p in points], label=name)
            elif name.startswith("m."):
                memory.plot(
                    t, [sum(v for k, v in p.items() if k != "t") for p in points], label=name
                )
        lag.set_title("produce -> Silver p95 by second of the window (s)")
        memory.set_title("memory, all roles (MB), by second")
