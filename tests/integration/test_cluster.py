"""The pipeline on a real Spark standalone cluster writes exactly what it writes in local mode.

A master and a worker are started on 127.0.0.1 from the installed pyspark (the same Spark the
driver runs, as in compose.yaml), the topic is drained once with `financelake run --master
spark://...` and once with `--master local[2]`, and every layer of both lakes is compared row
for row with delta-rs (wall-clock columns aside). The cluster run gets its executor size through
PYSPARK_SUBMIT_ARGS, as the compose stack does, and the master's record of the application proves
it ran on the cluster's executor.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyspark
import pytest
from deltalake import DeltaTable

from financelake.children import start_child, stop_children, wait_until
from financelake.config import Settings
from financelake.kafka.broker import free_port
from financelake.market.publisher import produce, publish

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

SPARK_HOME = Path(pyspark.__file__).resolve().parent
FINANCELAKE = Path(sys.executable).with_name("financelake")
START_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 600.0
EXECUTOR_MEMORY_MB = 768  # below the worker's 1g: proves PYSPARK_SUBMIT_ARGS reached Spark
WALL_CLOCK = {"bronze": ["ingested_at"], "quarantine": ["quarantined_at"]}
BAD_TICKS = [
    {"symbol": "AAPL", "price": -1.0, "volume": 5, "open": 1.0, "high": 2.0, "low": 0.5,
     "timestamp": "2026-01-05T14:31:00"},
    {"symbol": "MSFT", "price": 10.0, "volume": 0, "open": 10.0, "high": 10.0, "low": 10.0,
     "timestamp": "2026-01-05T14:31:00"},
    {"symbol": "GOOG"},
]  # fmt: skip


@dataclass(frozen=True)
class StandaloneCluster:
    master_url: str
    webui: str
    logs: Path

    def state(self) -> dict[str, Any]:
        """The master's JSON state; {} while its web UI is not listening yet."""
        try:
            with urllib.request.urlopen(f"{self.webui}/json/", timeout=5) as response:
                loaded: dict[str, Any] = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return loaded


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A master and one worker (1 core, 1g) of the installed pyspark, on 127.0.0.1."""
    logs = tmp_path_factory.mktemp("spark-cluster")
    port, webui_port, worker_webui_port = free_port(), free_port(), free_port()
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1"}
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    commands = {
        "master": [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                   "--port", str(port), "--webui-port", str(webui_port)],
        "worker": [spark_class, "org.apache.spark.deploy.worker.Worker",
                   f"spark://127.0.0.1:{port}", "--host", "127.0.0.1", "--cores", "1",
                   "--memory", "1g", "--webui-port", str(worker_webui_port),
                   "--work-dir", str(logs / "work")],
    }  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    started = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui_port}", logs)
    try:
        for role, command in commands.items():
            # Its own session: the process group (spark-class and its JVM) is stopped as one.
            processes.append(start_child(command, env, logs / f"{role}.log"))
            if role == "master":
                wait_until(
                    lambda: started.state().get("status") == "ALIVE", START_TIMEOUT_S,
                    "master up", children=processes, log_path=logs / "master.log",
                )  # fmt: skip
        wait_until(
            lambda: started.state().get("aliveworkers", 0) >= 1, START_TIMEOUT_S,
            "worker registered", children=processes, log_path=logs / "worker.log",
        )  # fmt: skip
        yield started
    finally:
        stop_children(processes[::-1], signal.SIGTERM, timeout_s=20)


def drain(
    settings: Settings, lake: Path, master: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    """Start `financelake run --available-now` on `master` into `lake`."""
    command = [
        str(FINANCELAKE), "run", "--available-now", "--master", master,
        "--lake-root", str(lake), "--bootstrap-servers", settings.bootstrap_servers,
        "--topic", settings.topic,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], what: str) -> str:
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{what} did not finish within {RUN_TIMEOUT_S:.0f} s:\n{output[-4000:]}")
    assert process.returncode == 0, f"{what} exited {process.returncode}:\n{output[-4000:]}"
    return output


def layer(lake: Path, table: str) -> pd.DataFrame:
    frame = DeltaTable(str(lake / table)).to_pandas().drop(columns=WALL_CLOCK.get(table, []))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_cluster_and_local_mode_write_the_same_rows_to_every_layer(
    cluster: StandaloneCluster, settings: Settings, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 5, 14, 30)
    report = produce(settings, count=600, seed=11, tick_interval_s=1.0, start=start)
    assert report.ok, report
    first = {"symbol": "AAPL", "price": 100.0, "volume": 10, "open": 100.0, "high": 100.0,
             "low": 100.0, "timestamp": "2026-01-05T14:30:00.500000"}  # fmt: skip
    assert publish([*BAD_TICKS, first, first], settings).ok  # the repeat is quarantined

    common = {
        "FINANCELAKE_SPARK_UI": "false",
        "FINANCELAKE_SHUFFLE_PARTITIONS": "2",
        "FINANCELAKE_SPARK_DRIVER_MEMORY": "1g",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,  # the executors' Python, were a Python worker needed
    }
    on_cluster = {
        **common,
        "PYSPARK_SUBMIT_ARGS": f"--conf spark.executor.memory={EXECUTOR_MEMORY_MB}m "
        "--conf spark.executor.cores=1 pyspark-shell",
    }
    # Both drains at once: each spends most of its time starting JVMs and committing to Delta.
    lakes = {"cluster": tmp_path / "lake-cluster", "local": tmp_path / "lake-local"}
    runs = {
        "cluster": drain(settings, lakes["cluster"], cluster.master_url, on_cluster),
        "local": drain(settings, lakes["local"], "local[2]", common),
    }
    for name, process in runs.items():
        finish(process, f"the {name} run")

    apps = [app for app in cluster.state()["completedapps"] if app["name"] == "financelake"]
    assert len(apps) == 1, "the cluster run registered one application with the master"
    assert apps[0]["memoryperexecutor"] == EXECUTOR_MEMORY_MB
    assert apps[0]["cores"] == 1

    for table in ("bronze", "silver", "quarantine", "gold"):
        on_cluster_rows, local_rows = layer(lakes["cluster"], table), layer(lakes["local"], table)
        assert len(local_rows) > 0, table
        pd.testing.assert_frame_equal(on_cluster_rows, local_rows, check_like=False, obj=table)
    assert len(layer(lakes["local"], "silver")) == 601
    quarantined = layer(lakes["local"], "quarantine")
    assert len(quarantined) == 4, quarantined["reason"].tolist()
