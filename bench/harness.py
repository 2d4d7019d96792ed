"""The bench's working space: its own broker, fresh topics and lakes, and child processes, all
stopped on the way out (also on Ctrl+C or an exception)."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from financelake.children import log_tail, start_child, stop_children
from financelake.config import REPO_ROOT, Settings
from financelake.environment import settings_env
from financelake.kafka.broker import EmbeddedBroker, free_port
from financelake.kafka.client import ensure_topic

log = logging.getLogger("bench")

RESULTS_DIR = REPO_ROOT / "bench" / "results"


@dataclass(frozen=True)
class Sizes:
    """How big one bench run is: its topics, windows and training sizes."""

    ticks: int  # the pre-filled topic read by B1, B3 and P
    scaling: tuple[int, ...]  # S: P at these sizes too
    window_s: float  # paced producing per latency run
    warmup_s: float  # left out of the latency percentiles
    history_ticks: int  # drained before each latency window
    train_interval_s: float
    training_bars: tuple[int, ...]
    demo_s: float


@dataclass
class Workspace:
    """One bench run: bench/results/.work/<stamp>/ (lakes, logs, broker data) and its broker."""

    stamp: str
    keep: bool = False
    broker: EmbeddedBroker | None = None
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return RESULTS_DIR / ".work" / self.stamp

    def start_broker(self) -> None:
        port = free_port()
        self.broker = EmbeddedBroker(
            data_dir=self.path("kafka"),
            port=port,
            controller_port=port + 1,
            jars_dir=Settings().jars_dir,
            heap="512m",
        )
        self.broker.start()

    @property
    def broker_pid(self) -> int | None:
        return None if self.broker is None else self.broker.pid()

    def close(self) -> None:
        """Stop every child and the broker; delete lakes and broker data, keep the logs."""
        stop_children(self._children[::-1], signal.SIGTERM, timeout_s=40.0)
        self._children.clear()
        if self.broker is not None:
            self.broker.stop()
        if not self.keep and self.root.exists():
            for entry in self.root.iterdir():
                if entry.name not in ("logs", "demo-logs"):  # the demo writes its logs there
                    shutil.rmtree(entry, ignore_errors=True)

    def path(self, *parts: str) -> Path:
        """A folder inside the workspace (created)."""
        folder = self.root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def log_file(self, name: str) -> Path:
        return self.path("logs") / f"{name}.log"

    def drop(self, folder: Path) -> None:
        """Delete a lake once its figures are taken (unless --keep): 5M ticks take gigabytes."""
        if not self.keep:
            shutil.rmtree(folder, ignore_errors=True)

    def settings(self, topic: str, lake_root: Path | None = None, **more: Any) -> Settings:
        """The pipeline's settings (FINANCELAKE_* respected) on this broker, topic and lake."""
        assert self.broker is not None, "start_broker() first"
        # No /metrics server: a service the user runs on its default port must not fail ours.
        overrides: dict[str, Any] = {"bootstrap_servers": self.broker.address, "metrics_port": 0}
        if lake_root is not None:
            overrides["lake_root"] = str(lake_root)
        return Settings(topic=topic, **overrides, **more)

    def new_topic(self, topic: str, lake_root: Path | None = None, **more: Any) -> Settings:
        """`settings(...)` of a topic created now with the pipeline's partition count."""
        config = self.settings(topic, lake_root, **more)
        ensure_topic(config, topic)
        return config

    def spawn(self, argv: Sequence[str], name: str, config: Settings) -> subprocess.Popen[bytes]:
        """Start a child with `config` (and this broker's data folder) in its environment, its
        output into logs/<name>.log."""
        own = config.model_copy(update={"kafka_data_dir": self.path("kafka")})
        env = settings_env(own) | {"PYTHONUNBUFFERED": "1"}
        child = start_child(argv, env, self.log_file(name), cwd=REPO_ROOT)
        self._children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], timeout_s: float = 60.0) -> float:
        """SIGTERM the child, SIGKILL its group after the timeout: the seconds it took."""
        if child in self._children:
            self._children.remove(child)
        return stop_children([child], signal.SIGTERM, timeout_s)[0]

    def run(
        self,
        argv: Sequence[str],
        name: str,
        config: Settings,
        watch: Callable[[int], None] | None = None,
    ) -> float:
        """Run a child to the end (`watch` gets its pid first): its wall seconds. Raises with
        the end of its log unless it exits 0."""
        started = time.perf_counter()
        child = self.spawn(argv, name, config)
        if watch is not None:
            watch(child.pid)
        code = child.wait()
        if code != 0:
            raise RuntimeError(f"{name} exited {code}" + log_tail(self.log_file(name)))
        return time.perf_counter() - started

    def run_worker(self, name: str, config: Settings, *args: str) -> tuple[dict[str, Any], float]:
        """Run `python -m bench.worker ARGS` to the end: (the JSON it wrote, wall seconds)."""
        out = self.path("results") / f"{name}.json"
        out.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "bench.worker", "--out", str(out), *args]
        wall = self.run(argv, name, config)
        return json.loads(out.read_text()), wall


def new_stamp() -> str:
    """A run's name: the UTC time it started."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def setup_process() -> None:
    """Progress lines on stderr; SIGTERM and SIGINT (even where a non-interactive shell ignored
    it) end a run like Ctrl+C: what it started is stopped, what it measured is written."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    log.setLevel(logging.INFO)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
