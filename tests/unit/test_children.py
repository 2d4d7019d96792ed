"""Child processes: started in a session of their own with a log, stopped by a signal to the
child alone, killed with their whole group when they ignore it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from financelake.children import start_child, stop_children

# Writes its pid and its grandchild's pid, then waits to be signalled.
_PARENT = """
import signal, subprocess, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("grandchild", grandchild.pid, flush=True)
while True:
    time.sleep(0.1)
"""


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    log = tmp_path / f"{mode}.log"
    child = start_child([sys.executable, "-c", _PARENT, mode], os.environ, log)
    while "grandchild" not in log.read_text():
        assert child.poll() is None, log.read_text()
        time.sleep(0.05)  # polling the log the child writes; there is no event to wait on
    return child, int(log.read_text().split()[1])


def _ends(pid: int) -> bool:
    """Whether `pid` ends (or is left a zombie) within 10 s of a kill already sent."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)  # the kernel delivers SIGKILL on its own time
    return False


def test_a_child_runs_in_a_session_of_its_own_and_writes_its_log(tmp_path: Path) -> None:
    child, grandchild = _start(tmp_path, "obey")
    try:
        assert os.getsid(child.pid) == child.pid != os.getsid(0)
        assert os.getpgid(grandchild) == child.pid
    finally:
        stop_children([child], signal.SIGTERM, timeout_s=10)


def test_a_child_that_obeys_ends_and_what_it_left_in_its_group_goes_too(tmp_path: Path) -> None:
    child, grandchild = _start(tmp_path, "obey")
    [took] = stop_children([child], signal.SIGTERM, timeout_s=10)
    assert child.returncode == -signal.SIGTERM
    assert took < 10
    assert _ends(grandchild)


def test_a_child_that_ignores_the_signal_is_killed_with_its_group_at_the_timeout(
    tmp_path: Path,
) -> None:
    child, grandchild = _start(tmp_path, "ignore")
    [took] = stop_children([child], signal.SIGTERM, timeout_s=1)
    assert child.returncode == -signal.SIGKILL
    assert took >= 1
    assert _ends(grandchild)
