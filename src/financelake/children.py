"""Child processes of `financelake`: the demo's market, pipeline and dashboard, and the services
the bench and the tests start. Each runs in a session of its own with its output in a log file,
so a signal meant for it reaches it alone, and what it leaves behind (a JVM whose parent died)
can still be killed with its process group. Whoever starts them waits on what they write with
`wait_until`; a `financelake` process told to stop (SIGINT or SIGTERM) hears it through
`stop_signals`."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

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
            log.warning(
                "%s ignored %s for %.0f s; killing it", _described(child), sig.name, timeout_s
            )
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        took.append(time.monotonic() - started)
    return took


@contextmanager
def stop_signals(handler: Callable[[int, FrameType | None], object]) -> Iterator[None]:
    """While inside, SIGINT (Ctrl+C) and SIGTERM (`stop_children`, Docker, systemd) call
    `handler` instead of ending the process, so it can stop cleanly; the handlers before come
    back on the way out."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    *,
    children: Sequence[subprocess.Popen[bytes]] = (),
    log_path: Path | None = None,
    poll_s: float = 0.5,
) -> float:
    """Poll `condition` until it holds: the seconds waited. Raises RuntimeError as soon as one
    of `children` exits and TimeoutError after `timeout_s`, with the end of `log_path`.

    Polling, because what it waits on is another process's files or ports: there is no event
    to block on. It coordinates nothing of this process's own."""
    started = time.monotonic()
    while not condition():
        ended = [child for child in children if child.poll() is not None]
        if ended:
            raise RuntimeError(
                f"{what}: {_described(ended[0])} exited {ended[0].returncode}" + log_tail(log_path)
            )
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s" + log_tail(log_path))
        time.sleep(poll_s)
    return time.monotonic() - started


def _described(child: subprocess.Popen[bytes]) -> str:
    """A child for a message: its pid and command line, short (`python -m financelake run`)."""
    argv = [str(arg) for arg in child.args] if isinstance(child.args, list) else [str(child.args)]
    command = " ".join([Path(argv[0]).name, *argv[1:]])
    return f"pid {child.pid} ({command[:100]})"


def log_tail(log_path: Path | None, lines: int = 30) -> str:
    """The end of a child's log, for an error message ("" without one)."""
    if log_path is None or not log_path.is_file():
        return ""
    text = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"; the end of {log_path}:\n" + "\n".join(text)
