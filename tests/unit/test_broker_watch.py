"""The service's broker watch: an outage is recorded as `waiting` (with why), the return as
`running`, each change once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from financelake import broker_watch
from financelake.broker_watch import BrokerWatch
from financelake.config import Settings
from financelake.service_state import ServiceState

DOWN = "Kafka at 127.0.0.1:9 did not answer within 2 s"


def test_an_outage_is_recorded_as_waiting_and_the_return_as_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [None, DOWN, DOWN, None, None]  # what each look at Kafka finds
    looked = threading.Event()
    written: list[tuple[ServiceState, str]] = []

    def look(_settings: Settings) -> str | None:
        if not answers:
            looked.set()  # every answer seen and acted on
            return None
        return answers.pop(0)

    def record(
        _root: str, state: ServiceState, detail: str = "", *, local: bool, **_addresses: object
    ) -> None:
        written.append((state, detail))

    monkeypatch.setattr(broker_watch, "kafka_problem", look)
    monkeypatch.setattr(broker_watch, "write_state", record)
    watch = BrokerWatch(Settings(lake_root=str(tmp_path)), every_s=0.01)
    watch.start()
    assert looked.wait(10)
    watch.stop()

    assert written == [(ServiceState.WAITING, DOWN), (ServiceState.RUNNING, "")]
