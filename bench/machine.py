"""Facts about the machine a bench ran on, and what they mean for reading its figures."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from financelake.config import REPO_ROOT


def machine() -> dict[str, Any]:
    """Cores, memory, CPU, load and the versions of everything measured."""
    memory = psutil.virtual_memory()
    return {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(memory.total / 1024**3, 1),
        "memory_available_gb": round(memory.available / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java_version(),
        "versions": {
            name: _version(name)
            for name in (
                "pyspark",
                "delta-spark",
                "deltalake",
                "confluent-kafka",
                "pyarrow",
                "pandas",
                "numpy",
                "psutil",
                "plotly",
            )
        }
        | {"librdkafka": _librdkafka(), "kafka_broker": _kafka_version()},
        "git": _git(),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _java_version() -> str:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return (done.stderr or done.stdout).splitlines()[0] if (done.stderr or done.stdout) else "?"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _librdkafka() -> str:
    import confluent_kafka

    return str(confluent_kafka.libversion()[0])


def _kafka_version() -> str:
    jars = sorted((REPO_ROOT / ".jars" / "kafka").glob("kafka_2.13-*.jar"))
    match = re.search(r"kafka_2\.13-(.+)\.jar", jars[0].name) if jars else None
    return match.group(1) if match else "unknown"


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def caveats(meta: dict[str, Any]) -> list[str]:
    """What a reader must know before comparing these figures with the targets."""
    notes = []
    if meta.get("mode") == "quick":
        notes.append(
            "quick mode: small topics and short windows, where fixed costs (JVM, query and table "
            "start-up) dominate; not comparable with the targets"
        )
    cores = meta.get("machine", {}).get("cores_logical") or 0
    loads = [*meta.get("load_average_start", []), *(meta.get("load_average_end") or [])]
    if cores and loads and max(loads) > cores:
        notes.append(
            f"load average up to {max(loads):.1f} on {cores} cores: other work shared the "
            "machine, so the figures measure contention too"
        )
    if meta.get("interrupted"):
        notes.append("interrupted: only the benchmarks that finished are reported")
    return notes
