"""The installed product, not the checkout: build the wheel, install it into a fresh virtual
environment (not editable), resolve the jars with `financelake setup` into a folder of its own,
then run the pipeline against the embedded broker, query the lake with `financelake sql`, and
run `financelake demo` (with the `dashboard` extra) until its lake fills, then stop it with Ctrl+C.

Slow (pip installs pyspark; Maven resolves the jars): `make wheel-test`, not part of `make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import support
from deltalake import DeltaTable

from financelake.children import wait_until
from financelake.config import REPO_ROOT, Settings
from financelake.kafka.broker import free_port

pytestmark = pytest.mark.wheel

TICKS = 400
INSTALL_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 600
DEMO_STOP_S = 120
# A checkout's own output, at its top level only (src/financelake/lake is source).
NOT_SOURCE_TOP = {".git", ".venv", ".jars", "build", "lake", ".financelake"}
NOT_SOURCE_ANYWHERE = shutil.ignore_patterns("*.egg-info", "*cache*")


def run(command: list[str | Path], *, env: dict[str, str], cwd: Path, timeout: float) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_wheel_installs_sets_up_its_jars_and_runs_the_pipeline(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FINANCELAKE_")}
    env.pop("PYTHONPATH", None)
    work = tmp_path / "work"  # outside the checkout: nothing may come from the source tree
    work.mkdir()

    # Built from a copy: setuptools' build/ folder in the checkout could carry stale modules.
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_not_source)
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source],
        env=env, cwd=work, timeout=INSTALL_TIMEOUT_S,
    )  # fmt: skip
    (wheel,) = dist.glob("financelake-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], env=env, cwd=work, timeout=120)
    bin_dir = venv / "bin"
    run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet",
         "--constraint", REPO_ROOT / "constraints.txt", wheel],
        env=env, cwd=work, timeout=INSTALL_TIMEOUT_S,
    )  # fmt: skip
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"  # Spark's Python workers: this venv
    location = run(
        [bin_dir / "python", "-c", "import financelake; print(financelake.__file__)"],
        env=env, cwd=work, timeout=60,
    )  # fmt: skip
    assert Path(location.strip()).is_relative_to(venv), location
    financelake = bin_dir / "financelake"
    assert run([financelake, "--version"], env=env, cwd=work, timeout=60).split() == [
        "financelake",
        version("financelake"),
    ]

    # setup: the pom inside the wheel, Maven, a jars folder of this test's own.
    env["FINANCELAKE_JARS_DIR"] = str(tmp_path / "jars")
    said = run([financelake, "setup"], env=env, cwd=work, timeout=INSTALL_TIMEOUT_S)
    assert "resolved into" in said
    assert "Spark class archive recorded" in said  # by the installed package's own workload
    assert list((tmp_path / "jars" / "spark").glob("delta-spark_*.jar"))
    assert list((tmp_path / "jars" / "kafka").glob("kafka_2.13-*.jar"))
    again = run([financelake, "setup"], env=env, cwd=work, timeout=60)
    assert "JVM jars up to date" in again
    assert "Spark class archive up to date" in again

    port = free_port()
    lake = tmp_path / "lake"
    where = ["--lake-root", lake, "--bootstrap-servers", f"127.0.0.1:{port}", "--topic", "wheel"]
    kafka = [financelake, "kafka"]
    broker = ["--port", str(port), "--data-dir", tmp_path / "kafka"]
    run([*kafka, "start", *broker], env=env, cwd=work, timeout=RUN_TIMEOUT_S)
    try:
        run(
            [financelake, "produce", *where, "--count", str(TICKS), "--seed", "5",
             "--partitions", "2"],
            env=env, cwd=work, timeout=RUN_TIMEOUT_S,
        )  # fmt: skip
        run(
            [financelake, "run", *where, "--available-now", "--no-train", "--master", "local[2]",
             "--no-spark-ui", "--shuffle-partitions", "2", "--log-format", "json"],
            env=env, cwd=work, timeout=RUN_TIMEOUT_S,
        )  # fmt: skip
    finally:
        run([*kafka, "stop", *broker], env=env, cwd=work, timeout=RUN_TIMEOUT_S)

    rows = {
        name: DeltaTable(str(lake / name)).to_pyarrow_table().num_rows
        for name in ("bronze", "silver", "gold")
    }
    assert rows["bronze"] == TICKS
    assert rows["silver"] == TICKS  # the simulator's ticks are all valid and distinct
    assert rows["gold"] > 0
    answer = run(
        [financelake, "sql", "SELECT count(*) AS n FROM silver", "--lake-root", lake,
         "--format", "json"],
        env=env, cwd=work, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert json.loads(answer) == [{"n": TICKS}]

    # demo: what a new user runs next. The dashboard is an extra; everything else is the wheel.
    with_dashboard = f"financelake[dashboard] @ {wheel.as_uri()}"
    run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet",
         "--constraint", REPO_ROOT / "constraints.txt", with_dashboard],
        env=env, cwd=work, timeout=INSTALL_TIMEOUT_S,
    )  # fmt: skip
    demo_lake, log = tmp_path / "demo-lake", tmp_path / "demo.log"
    dashboard_port, metrics_port = free_port(), free_port()
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [str(part) for part in (
                financelake, "demo", "--lake-root", demo_lake, "--kafka-port", free_port(),
                "--kafka-data-dir", tmp_path / "demo-kafka", "--port", dashboard_port,
                "--metrics-port", metrics_port, "--rate", "200",
            )],
            env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        lake = Settings(lake_root=str(demo_lake))
        wait_until(
            lambda: min(support.table_rows(lake, name) for name in ("silver", "gold_live")) > 0,
            RUN_TIMEOUT_S, "the demo's Silver and live bars", children=[demo], log_path=log,
        )  # fmt: skip
        wait_until(
            lambda: support.answers_http(f"http://127.0.0.1:{dashboard_port}"),
            120, "the demo's dashboard", children=[demo], log_path=log,
        )  # fmt: skip
        samples = support.scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert samples[("financelake_table_rows", (("table", "silver"),))] > 0
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl+C: the demo stops what it started
        code = demo.wait(timeout=DEMO_STOP_S)
    assert code == 0, log.read_text()[-4000:]
    said = log.read_text()
    assert f"http://127.0.0.1:{metrics_port}/metrics" in said  # the address it told the user
    assert "Traceback" not in said, said[-4000:]


def _not_source(folder: str, names: list[str]) -> set[str]:
    top = set(names) & NOT_SOURCE_TOP if Path(folder) == REPO_ROOT else set()
    return top | set(NOT_SOURCE_ANYWHERE(folder, names))
