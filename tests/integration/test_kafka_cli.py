"""`financelake kafka start|status|stop` on a second broker beside the session's one."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from financelake.kafka.broker import EmbeddedBroker, free_port


def kafka(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "financelake", "kafka", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_start_status_stop_a_second_broker(broker: EmbeddedBroker, tmp_path: Path) -> None:
    port = free_port()
    where = ["--port", str(port), "--data-dir", str(tmp_path / "kafka2")]
    try:
        started = kafka("start", *where, "--heap", "256m")
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout
        assert (tmp_path / "kafka2" / "broker.log").stat().st_size > 0

        status = kafka("status", *where)
        assert status.returncode == 0
        assert status.stdout.strip() == f"127.0.0.1:{port}"
        assert broker.is_running()  # the session's broker is unaffected
    finally:
        stopped = kafka("stop", *where)
    assert stopped.returncode == 0
    assert kafka("status", *where).returncode != 0
    assert broker.is_running()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = kafka("start", "--port", str(port), "--data-dir", str(tmp_path / "k"))
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
