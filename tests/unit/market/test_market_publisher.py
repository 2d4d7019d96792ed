from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from financelake.config import Settings
from financelake.errors import KafkaUnavailableError
from financelake.market import publisher
from financelake.market.publisher import PublishReport, produce, publish
from financelake.market.simulator import Tick, simulate_ticks

SETTINGS = Settings(topic="ticks", bootstrap_servers="broker:9092")


class FakeProducer:
    """Records messages; can refuse some with BufferError or fail them at delivery."""

    def __init__(self, config: dict[str, Any], *, full_every: int = 0, fail_every: int = 0):
        self.config = config
        self.messages: list[tuple[str, bytes, str]] = []
        self.full_every, self.fail_every = full_every, fail_every
        self.attempts = self.polls = self.flushes = 0

    def produce(self, topic: str, value: bytes, key: str) -> None:
        self.attempts += 1
        if self.full_every and self.attempts % self.full_every == 0:
            raise BufferError("queue full")
        self.messages.append((topic, value, key))
        if self.fail_every and len(self.messages) % self.fail_every == 0:
            self.config["on_delivery"]("MSG_TIMED_OUT", None)

    def poll(self, timeout: float) -> int:
        self.polls += 1
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        return 0

    def __len__(self) -> int:
        return 0


@pytest.fixture
def topics(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stands in for the broker's topic check; lists the topics it was asked for."""
    checked: list[str] = []

    def ensure_topic(settings: Settings) -> int:
        checked.append(settings.topic)
        return settings.topic_partitions

    monkeypatch.setattr(publisher, "ensure_topic", ensure_topic)
    return checked


def factory(**options: int) -> tuple[list[FakeProducer], Callable[[dict[str, Any]], FakeProducer]]:
    made: list[FakeProducer] = []

    def make(config: dict[str, Any]) -> FakeProducer:
        made.append(FakeProducer(config, **options))
        return made[-1]

    return made, make


def ticks(count: int) -> list[Tick]:
    return list(simulate_ticks(["AAPL", "MSFT"], seed=1, count=count))


def test_publishes_every_tick_keyed_by_symbol(topics: list[str]) -> None:
    made, make = factory()
    sent = ticks(5000)
    report = publish(sent, SETTINGS, producer_factory=make)
    assert topics == ["ticks"]
    assert report.ok and report.sent == 5000 and report.failed == 0
    (producer,) = made
    assert [(t, json.loads(v), k) for t, v, k in producer.messages] == [
        ("ticks", tick._asdict(), tick.symbol) for tick in sent
    ]
    assert producer.flushes >= 1 and producer.polls >= 1
    config = producer.config
    assert config["bootstrap.servers"] == "broker:9092"
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["compression.type"] == "lz4"


def test_plain_dicts_are_published_too(topics: list[str]) -> None:
    made, make = factory()
    message = {
        "symbol": "X",
        "price": 1.5,
        "volume": 1,
        "open": 1.5,
        "high": 1.5,
        "low": 1.5,
        "timestamp": "2026-01-07T00:00:00.000000",
    }
    assert publish([message], SETTINGS, producer_factory=make).sent == 1
    assert json.loads(made[0].messages[0][1]) == message and made[0].messages[0][2] == "X"


def test_a_full_queue_is_waited_out(topics: list[str]) -> None:
    made, make = factory(full_every=3)
    report = publish(ticks(1000), SETTINGS, producer_factory=make)
    assert report.ok and len(made[0].messages) == 1000
    assert made[0].polls >= 400


def test_failed_deliveries_are_reported(topics: list[str]) -> None:
    _, make = factory(fail_every=10)
    report = publish(ticks(1000), SETTINGS, producer_factory=make)
    assert (report.sent, report.failed, report.ok) == (900, 100, False)
    assert report.error == "MSG_TIMED_OUT"
    assert "100 FAILED" in str(report)


def test_interrupt_flushes_and_reports(topics: list[str]) -> None:
    def interrupted() -> Iterator[Tick]:
        yield from ticks(300)
        raise KeyboardInterrupt

    made, make = factory()
    report = publish(interrupted(), SETTINGS, producer_factory=make)
    assert report.interrupted and not report.ok and report.sent == 300
    assert made[0].flushes >= 1


def test_rate_is_paced_and_progress_reported(topics: list[str]) -> None:
    progress: list[PublishReport] = []
    _, make = factory()
    began = time.monotonic()
    report = publish(
        ticks(30),
        SETTINGS,
        rate=300,
        progress_every_s=0,
        on_progress=progress.append,
        producer_factory=make,
    )
    # The 30th tick may not leave before 29 intervals of 1/300 s have passed.
    assert time.monotonic() - began >= 29 / 300
    assert report.sent == 30 and report.rate <= 300 * 1.05
    assert [p.sent for p in progress] == list(range(1, 31))


def test_negative_rate_is_refused(topics: list[str]) -> None:
    with pytest.raises(ValueError, match="rate"):
        publish([], SETTINGS, rate=-1)
    assert topics == []


def test_unreachable_broker_fails_fast_before_producing() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1", kafka_timeout_s=1)
    with pytest.raises(KafkaUnavailableError, match=r"127\.0\.0\.1:1"):
        publish(ticks(10), settings, producer_factory=lambda config: pytest.fail("produced"))


def test_produce_simulates_or_replays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[list[Tick], float]] = []

    def fake_publish(ticks: Any, settings: Settings, *, rate: float, **_: Any) -> PublishReport:
        calls.append((list(ticks), rate))
        return PublishReport(len(calls[-1][0]), 0, 1.0)

    monkeypatch.setattr(publisher, "publish", fake_publish)
    produce(SETTINGS, symbols=["A", "B"], count=7, rate=5, model="random-walk")
    sent, rate = calls[-1]
    assert len(sent) == 7 and rate == 5
    assert sent == list(
        simulate_ticks(
            ["A", "B"], model="random-walk", seed=SETTINGS.seed, start=sent[0].event_time, count=7
        )
    )

    csv = tmp_path / "msft.csv"
    csv.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n")
    produce(SETTINGS, replay=csv, bar_seconds=86400, count=3)
    sent, _ = calls[-1]
    assert [t.symbol for t in sent] == ["MSFT"] * 3 and [t.price for t in sent] == [1, 0.5, 2]
