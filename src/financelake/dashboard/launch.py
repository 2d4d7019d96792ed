"""Start the dashboard: `streamlit run app.py` in a child process, configured by environment.

The page runs in its own process because Streamlit owns its event loop and signal handling.
Settings travel as FINANCELAKE_* variables (the child builds the same `Settings` from them),
so secrets never appear on a command line that `ps` would show.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from financelake.config import Settings
from financelake.environment import settings_env

log = logging.getLogger(__name__)

APP = Path(__file__).with_name("app.py")
DEFAULT_REFRESH_S = 5.0
STOP_GRACE_S = 10.0


def streamlit_command(
    host: str = "127.0.0.1", port: int = 8501, refresh_s: float = DEFAULT_REFRESH_S
) -> list[str]:
    """The `python -m streamlit run` command line of the dashboard (no secrets in it)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--",
        "--refresh",
        f"{refresh_s:g}",
    ]


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8501,
    refresh_s: float = DEFAULT_REFRESH_S,
) -> int:
    """Run the dashboard until it exits or we are interrupted; return its exit code.

    Ctrl+C reaches Streamlit directly (same process group); SIGTERM sent to us is passed on.
    Either way the child gets `STOP_GRACE_S` to stop before it is killed.
    """
    command = streamlit_command(host, port, refresh_s)
    log.info("dashboard on http://%s:%d (lake %s)", host, port, settings.lake_root)
    child = subprocess.Popen(command, env=settings_env(settings))
    previous = None
    if threading.current_thread() is threading.main_thread():

        def forward(signum: int, frame: FrameType | None) -> None:
            child.send_signal(signum)

        previous = signal.signal(signal.SIGTERM, forward)
    try:
        return _exit_code(child.wait())
    except KeyboardInterrupt:
        return _stop(child)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if child.poll() is None:
            _stop(child)


def _stop(child: subprocess.Popen[bytes]) -> int:
    """Ask the child to stop (SIGTERM), kill it after the grace period; its exit code."""
    if child.poll() is None:
        child.terminate()
    try:
        return _exit_code(child.wait(timeout=STOP_GRACE_S))
    except subprocess.TimeoutExpired:
        log.warning("dashboard did not stop within %.0f s; killing it", STOP_GRACE_S)
        child.kill()
        return _exit_code(child.wait())


def _exit_code(code: int) -> int:
    """A shell-style exit code: 128 + N for a child ended by signal N."""
    return 128 - code if code < 0 else code
