"""Child processes: started in a session of their own with a log, stopped by a signal to the
child alone, killed with their whole group when they ignore it; waited on until what they write
appears, or they exit, or time runs out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from financelake.children import start_child, stop_children, stop_signals, wait_until

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
    wait_until(
        lambda: "grandchild" in log.read_text(), 30, "the grandchild's pid",
        children=[child], log_path=log, poll_s=0.05,
    )  # fmt: skip
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


def test_waiting_ends_when_the_condition_holds_and_says_how_long_it_took() -> None:
    ready_at = time.monotonic() + 0.3
    waited = wait_until(lambda: time.monotonic() >= ready_at, 10, "the moment", poll_s=0.05)
    assert 0.25 <= waited < 5


def test_waiting_stops_at_once_when_a_child_exits_and_shows_its_log(tmp_path: Path) -> None:
    log = tmp_path / "fails.log"
    code = "import sys; print('no broker at localhost:1', flush=True); sys.exit(3)"
    child = start_child([sys.executable, "-c", code], os.environ, log)
    started = time.monotonic()
    named = r"(?s)first ticks: pid \d+ \(python\S* -c .*\) exited 3.*no broker at localhost:1"
    with pytest.raises(RuntimeError, match=named):
        wait_until(lambda: False, 60, "first ticks", children=[child], log_path=log)
    assert time.monotonic() - started < 30


def test_waiting_gives_up_at_the_timeout() -> None:
    with pytest.raises(TimeoutError, match="never: not within 0 s"):
        wait_until(lambda: False, 0.2, "never", poll_s=0.05)


def test_stop_signals_reach_the_handler_inside_and_the_old_handlers_come_back() -> None:
    heard: list[int] = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with stop_signals(lambda signum, _frame: heard.append(signum)):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert heard == [signal.SIGTERM, signal.SIGINT]
    assert {sig: signal.getsignal(sig) for sig in before} == before
