"""`demo --kafka-port`: the broker's port is the demo's own flag, and a taken port names it.
The demo and the dashboard need the `dashboard` extra and say so."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from financelake.cli import main, parse_only
from financelake.config import Settings
from financelake.demo import _ensure_broker
from financelake.errors import BrokerError
from financelake.kafka.broker import free_port


def test_kafka_port_sets_the_bootstrap_servers_and_dashboard_port_stays_separate() -> None:
    args, settings = parse_only(["demo", "--kafka-port", "19092", "--port", "8600"])
    assert settings.bootstrap_servers == "127.0.0.1:19092"
    assert args.port == 8600


def test_kafka_port_and_bootstrap_servers_together_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["demo", "--kafka-port", "19092", "--bootstrap-servers", "h:9092"]
    assert main(argv) == 1
    assert "--kafka-port or --bootstrap-servers" in capsys.readouterr().err


def test_a_taken_kafka_port_names_the_kafka_port_flag(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as squatter:  # listens, but speaks no Kafka
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        settings = Settings(
            lake_root=str(tmp_path / "lake"),
            bootstrap_servers=f"127.0.0.1:{port}",
            kafka_data_dir=tmp_path / "kafka",
        )
        with pytest.raises(BrokerError) as raised:
            _ensure_broker(settings)
    message = str(raised.value)
    assert f"port {port}" in message
    assert "--kafka-port" in message
    assert "with --port" not in message  # --port is the demo's dashboard port


@pytest.mark.parametrize("command", ["demo", "dashboard"])
def test_without_the_dashboard_extra_the_command_says_which_to_install(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("financelake.cli.find_spec", lambda name: None)
    assert main([command]) == 1
    assert "pip install 'financelake[dashboard]'" in capsys.readouterr().err
