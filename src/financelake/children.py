"""Child processes of `financelake`: the demo's market, pipeline and dashboard, and the services
the bench and the tests start. Each runs in a session of its own with its output in a log file,
so a signal meant for it reaches it alone, and what it leaves behind (a JVM whose parent died)
can still be killed with its process group."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def cli_command(*args: str) -> list[str]:
    """The command line of `financelake ARGS` in this interpreter."""
    return [sys.executable, "-m", "financelake", *args]


def start_child(
    argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in a session of its own, its output appended to `log_path`."""
    with log_path.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_children(
    children: Sequence[subprocess.Popen[bytes]], sig: signal.Signals, timeout_s: float
) -> list[float]:
    """Send `sig` to each child, then wait for each up to `timeout_s`: the seconds each took.

    The signal goes to the child alone: sent to its group, it would also reach the Spark JVM
    below it, which exits at once under a Python still using it. A child still running at the
    timeout is killed with its group, and so is whatever an ended child left in its group."""
    started = time.monotonic()
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)
    took = []
    for child in children:
        try:
            child.wait(timeout=max(0.0, started + timeout_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored %s for %.0f s; killing it", child.pid, sig.name, timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        took.append(time.monotonic() - started)
    return took
