"""Facts about the machine a bench ran on, and what they mean for reading its figures."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import psutil

from financelake.config import REPO_ROOT

_PACKAGES = ("pyspark", "delta-spark", "deltalake", "confluent-kafka", "pyarrow", "pandas")


def machine() -> dict[str, Any]:
    """Cores, memory, load, the versions of everything measured and the git commit."""

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
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
        "kafka_jars": sorted(p.name for p in (REPO_ROOT / ".jars" / "kafka").glob("kafka_*.jar")),
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
