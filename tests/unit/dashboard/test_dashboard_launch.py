"""Launching the dashboard: the command line, the environment, the exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

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


def test_settings_reach_the_child_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        lake_root=str(tmp_path / "lake"),
        topic="ticks",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password=SecretStr("pw"),
        fee_rate=0.002,
    )
    stale = {"PATH": "/bin", "FINANCELAKE_MAX_OFFSETS_PER_TRIGGER": "5"}

    env = launch.settings_env(settings, base=stale)

    assert env["PATH"] == "/bin"
    assert "FINANCELAKE_MAX_OFFSETS_PER_TRIGGER" not in env  # unset here, so unset there
    assert "pw" not in " ".join(launch.streamlit_command())
    for name, value in env.items():
        if name.startswith("FINANCELAKE_"):
            monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_serve_returns_the_exit_code_of_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_command(*args: object) -> list[str]:
        return [sys.executable, "-c", "raise SystemExit(3)"]

    monkeypatch.setattr(launch, "streamlit_command", failing_command)

    assert launch.serve(Settings(lake_root=str(tmp_path)), port=1) == 3
