"""The bench's outputs from one results dictionary, `{"meta", "figures": {key: value},
"errors": {benchmark: message}, "series": {name: [points]}}` (keys listed in the README): the
JSON file, the markdown table (each figure beside its target) and the chart page."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from bench.targets import TARGETS, distance
from financelake.config import REPO_ROOT, Settings

_PACKAGES = ("pyspark", "delta-spark", "deltalake", "confluent-kafka", "pyarrow", "pandas")
# The figures the chart shows: throughput, and latency as `l.<rate>.<layer>_p<q>_s`.
_RATE = re.compile(r"^(b1|b2|b3|p)\..*_ticks_per_s$")
_LATENCY = re.compile(r"^l\.(\d+)\.(bronze|silver|gold_closed_lag)_(p50|p95|p99)_s$")


def machine() -> dict[str, Any]:
    """Cores, memory, load, the versions of everything measured and the git commit."""

    def installed(package: str) -> str:
        with contextlib.suppress(PackageNotFoundError):
            return version(package)
        return "not installed"

    git = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return {
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {name: installed(name) for name in _PACKAGES},
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


def write_chart(results: dict[str, Any], path: Path) -> None:
    """One self-contained page (plotly.js inlined) of the four panels below."""
    from plotly.subplots import make_subplots

    figures, series = results["figures"], results["series"]
    chart = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=(
            "throughput (ticks/s)",
            "latency p50 / p95 / p99 (s)",
            "produce → Silver p95 by second of the window (s)",
            "resident memory, all roles (MB)",
        ),
    )
    rates = {k: v for k, v in figures.items() if _RATE.match(k)}
    chart.add_bar(x=list(rates), y=list(rates.values()), name="ticks/s", row=1, col=1)
    for quantile in ("p50", "p95", "p99"):
        bars = {
            f"{m[1]}/s {m[2]}": v
            for k, v in figures.items()
            if (m := _LATENCY.match(k)) and m[3] == quantile
        }
        chart.add_bar(x=list(bars), y=list(bars.values()), name=quantile, row=1, col=2)
    for name, points in series.items():
        if name.startswith("l."):
            t = [p["t"] for p in points]
            chart.add_scatter(x=t, y=[p["p95"] for p in points], name=name, row=2, col=1)
        elif name.startswith("m."):
            total = [sum(v for k, v in p.items() if k != "t") for p in points]
            chart.add_scatter(x=[p["t"] for p in points], y=total, name=name, row=2, col=2)
    meta = results["meta"]
    chart.update_layout(
        height=900,
        title=f"FinanceLake bench {meta['stamp']} ({meta['mode']}): "
        + "; ".join(caveats(meta) or ["idle machine"]),
    )
    chart.write_html(path, include_plotlyjs=True)
