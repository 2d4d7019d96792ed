"""The bench's working space: its own broker, fresh topics and lakes, and child processes.

Everything a benchmark starts is registered here and stopped on the way out (also on Ctrl+C or
an exception): child processes by their own process group, the broker by its data directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from financelake.config import REPO_ROOT, Settings
from financelake.environment import settings_env
from financelake.kafka.broker import EmbeddedBroker, free_port
from financelake.kafka.client import ensure_topic

log = logging.getLogger("bench")

RESULTS_DIR = REPO_ROOT / "bench" / "results"
PARTITIONS = 4  # the pipeline's default topic_partitions: "several partitions"


@dataclass
class Workspace:
    """One bench run's folder: bench/results/.work/<stamp>/ (lakes, logs, broker data)."""

    stamp: str
    root: Path
    keep: bool = False
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls, stamp: str, keep: bool = False) -> Workspace:
        root = RESULTS_DIR / ".work" / stamp
        root.mkdir(parents=True, exist_ok=True)
        return cls(stamp=stamp, root=root, keep=keep)

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

    def cleanup(self) -> None:
        """Delete lakes and broker data, keep the logs (unless --keep: keep everything)."""
        if self.keep or not self.root.exists():
            return
        for entry in self.root.iterdir():
            if entry.name != "logs":
                shutil.rmtree(entry, ignore_errors=True)

    # Child processes --------------------------------------------------------------------
    def spawn(
        self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a child in its own process group, stdout and stderr into `log_path`."""
        with log_path.open("ab") as out:
            child = subprocess.Popen(
                list(argv),
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], timeout_s: float = 60.0) -> float:
        """SIGTERM the child (like `kill <pid>`), SIGKILL its group after the timeout; the
        seconds it took.

        The signal goes to the child alone: sent to the whole group it would also reach the
        Spark JVM, which exits at once and leaves the service nothing to shut down cleanly.
        """
        started = time.monotonic()
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("pid %d ignored SIGTERM for %.0f s; killing it", child.pid, timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        # Whatever the child left in its group (a JVM whose parent died) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        if child in self._children:
            self._children.remove(child)
        return time.monotonic() - started

    def stop_all(self) -> None:
        for child in list(reversed(self._children)):
            self.stop(child, timeout_s=40.0)


@dataclass
class Broker:
    """The bench's own embedded broker on free ports; stopped by `close`."""

    broker: EmbeddedBroker

    @classmethod
    def start(cls, workspace: Workspace, heap: str = "512m") -> Broker:
        port = free_port()
        broker = EmbeddedBroker(
            data_dir=workspace.path("kafka"),
            port=port,
            controller_port=port + 1,
            jars_dir=REPO_ROOT / ".jars",
            heap=heap,
        )
        broker.start()
        return cls(broker)

    @property
    def address(self) -> str:
        return self.broker.address

    @property
    def pid(self) -> int | None:
        try:
            return int((self.broker.data_dir / "broker.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def close(self) -> None:
        self.broker.stop()


def settings(broker: Broker, topic: str, lake_root: Path | None = None) -> Settings:
    """The pipeline's settings (FINANCELAKE_* variables respected) pointed at the bench's
    broker, topic and lake."""
    # The simulated market runs ahead of the clock (a 1M-tick topic spans days of event time):
    # with the default future guard almost every tick would be quarantined as `future`, and
    # the bench would time the quarantine path instead of the pipeline's.
    overrides: dict[str, object] = {
        "bootstrap_servers": broker.address,
        "topic": topic,
        "max_future": "3650 days",
    }
    if lake_root is not None:
        overrides["lake_root"] = str(lake_root)
    return Settings(**overrides)  # type: ignore[arg-type]


def child_env(config: Settings, workspace: Workspace) -> dict[str, str]:
    """Environment for a `financelake` child: every setting of `config` (its broker, topic and
    lake), the workspace's broker data, unbuffered output."""
    own = config.model_copy(update={"kafka_data_dir": workspace.path("kafka")})
    return settings_env(own) | {"PYTHONUNBUFFERED": "1"}


def financelake(*args: str) -> list[str]:
    """Command line of the `financelake` CLI in this interpreter."""
    return [sys.executable, "-m", "financelake", *args]


def create_topic(config: Settings, topic: str) -> None:
    ensure_topic(config, topic, partitions=PARTITIONS)


# Child results ------------------------------------------------------------------------------
def run_worker(
    workspace: Workspace, name: str, config: Settings, job: str, *args: str
) -> tuple[dict[str, Any], float]:
    """Run `python -m bench.worker JOB ARGS` to the end; (its JSON figures, wall seconds).

    The figures come from the file the worker writes, never from its log.
    """
    out = workspace.path("results") / f"{name}.json"
    out.unlink(missing_ok=True)
    log_path = workspace.log_file(name)
    argv = [sys.executable, "-m", "bench.worker", "--out", str(out), job, *args]
    started = time.perf_counter()
    code = workspace.spawn(argv, log_path, child_env(config, workspace)).wait()
    wall = time.perf_counter() - started
    if code != 0 or not out.exists():
        raise RuntimeError(f"bench.worker {job} exited {code}; log {log_path}:\n{tail(log_path)}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result, wall


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for error messages."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_for(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    child: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    every_s: float = 0.5,
) -> float:
    """Poll `condition` until true; seconds waited. Raises if the child exits or time runs out."""
    started = time.monotonic()
    while not condition():
        if child is not None and child.poll() is not None:
            raise RuntimeError(
                f"{what}: the child exited with code {child.returncode}; "
                f"log {log_path}:\n{tail(log_path) if log_path else ''}"
            )
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not done within {timeout_s:.0f} s (log {log_path})")
        time.sleep(every_s)
    return time.monotonic() - started


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t:` ... then t[0] holds the seconds the block took."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)
