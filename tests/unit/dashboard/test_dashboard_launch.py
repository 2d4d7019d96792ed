"""Launching the dashboard: the command line, the environment, the exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from financelake.config import Settings
from financelake.dashboard import launch


def test_the_command_binds_the_given_address_headless_without_telemetry() -> None:
    command = launch.streamlit_command("127.0.0.1", 8765, refresh_s=2.5)

    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(launch.APP)]
    options = dict(zip(command[5:-3:2], command[6:-3:2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8765"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
    assert command[-3:] == ["--", "--refresh", "2.5"]
    assert launch.APP.is_file()


def test_no_secret_is_on_the_command_line() -> None:
    # Settings, secrets included, travel by environment (financelake.environment.settings_env).
    assert not any("password" in part.lower() for part in launch.streamlit_command())


def test_serve_returns_the_exit_code_of_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_command(*args: object) -> list[str]:
        return [sys.executable, "-c", "raise SystemExit(3)"]

    monkeypatch.setattr(launch, "streamlit_command", failing_command)

    assert launch.serve(Settings(lake_root=str(tmp_path)), port=1) == 3
