"""The Kafka edge of the market feed: publish ticks to the topic, keyed by symbol.

Keying by symbol sends each symbol to one partition, so its ticks keep their order. The
producer is idempotent (retries never duplicate) and only failed deliveries call back, which
keeps the per-tick cost down to encoding plus one `produce` call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from financelake.config import Settings
from financelake.kafka.client import confluent_config, ensure_topic
from financelake.market.replay import replay_file
from financelake.market.simulator import (
    DEFAULT_MODEL,
    DEFAULT_SYMBOLS,
    Model,
    Tick,
    simulate_ticks,
)

log = logging.getLogger(__name__)

POLL_EVERY = 1024  # messages between producer.poll(0) calls when not rate limited
MAX_LAG_S = 1.0  # a rate-limited run that falls further behind drops the backlog, not bursts


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer that `publish` uses (tests pass a fake)."""

    def produce(self, topic: str, value: bytes, key: str) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True)
class PublishReport:
    """What a publish run achieved.

    `sent` counts acknowledged ticks and `failed` the others; in the progress snapshots passed
    to `on_progress`, `sent` counts the ticks handed to the producer so far.
    """

    sent: int
    failed: int
    seconds: float
    interrupted: bool = False
    error: str | None = None  # the first delivery or producer error, if any
    replayed: str | None = None  # for a replay: rows and ticks sent of the file's

    @property
    def rate(self) -> float:
        """Ticks per second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every tick was delivered and the run was not cut short."""
        return self.failed == 0 and not self.interrupted and self.error is None

    def __str__(self) -> str:
        text = f"sent {self.sent:,} ticks in {self.seconds:.1f} s ({self.rate:,.0f}/s)"
        if self.failed:
            text += f", {self.failed:,} FAILED"
        if self.error:
            text += f" (first error: {self.error})"
        text += ", interrupted" if self.interrupted else ""
        return text if self.replayed is None else f"{text}; {self.replayed}"


def producer_config(
    settings: Settings, on_delivery: Callable[[KafkaError | None, Message], None]
) -> dict[str, Any]:
    """librdkafka settings for a fast, safe feed: batched, compressed, idempotent, acks=all."""
    return {
        **confluent_config(settings),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 10,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "message.timeout.ms": round(max(30.0, 3 * settings.kafka_timeout_s) * 1000),
        "delivery.report.only.error": True,
        "on_delivery": on_delivery,
        "error_cb": _log_client_error,
        "logger": log,  # librdkafka's own log lines go through logging, not raw to stderr
    }


def _log_client_error(error: KafkaError) -> None:
    log.warning("Kafka client: %s", error)


class _Deliveries:
    """Counts failed deliveries (the only ones reported) and keeps the first error."""

    def __init__(self) -> None:
        self.failed = 0
        self.error: str | None = None

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed += 1
            self.error = self.error or str(error)


def publish(
    ticks: Iterable[Tick | Mapping[str, Any]],
    settings: Settings,
    *,
    rate: float = 0.0,
    progress_every_s: float = 5.0,
    on_progress: Callable[[PublishReport], None] | None = None,
    producer_factory: Callable[[dict[str, Any]], ProducerLike] = Producer,
) -> PublishReport:
    """Send `ticks` to `settings.topic`, at most `rate` a second (0 = as fast as possible).

    The topic is created first if missing, which also fails fast (KafkaUnavailableError) when
    the broker is unreachable. Progress is logged every `progress_every_s` seconds and passed
    to `on_progress`. On KeyboardInterrupt, or at the end, the producer is flushed and the
    report says how many ticks were acknowledged and how many failed.
    """
    if not rate >= 0:
        raise ValueError(f"rate must be >= 0 ticks/s (0 = unlimited), got {rate}")
    ensure_topic(settings)
    deliveries = _Deliveries()
    producer = producer_factory(producer_config(settings, deliveries))
    topic = settings.topic
    interval = 1.0 / rate if rate else 0.0
    produced = 0
    interrupted = False
    error: str | None = None
    start = deadline = time.monotonic()
    next_progress = start + progress_every_s
    try:
        for tick in ticks:
            if isinstance(tick, Tick):
                value, key = tick.to_json(), tick.symbol
            else:
                value, key = json.dumps(tick).encode(), str(tick["symbol"])
            if interval:
                deadline = _pace(deadline, interval)
            _produce(producer, topic, value, key)
            produced += 1
            if interval or not produced % POLL_EVERY:
                producer.poll(0)
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + progress_every_s
                    snapshot = PublishReport(produced, deliveries.failed, now - start)
                    log.info("progress: %s", snapshot)
                    if on_progress:
                        on_progress(snapshot)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted after %d ticks; flushing what was produced", produced)
    except KafkaException as exc:  # e.g. a fatal idempotence error: the producer is unusable
        error = str(exc)
        log.error("producer failed after %d ticks: %s", produced, exc)
    except Exception:  # a bad tick or a failing source: deliver what was sent, then fail
        producer.flush(settings.kafka_timeout_s)
        raise
    undelivered, cut_short = _drain(producer, progress_every_s)
    failed = deliveries.failed + undelivered
    report = PublishReport(
        sent=produced - failed,
        failed=failed,
        seconds=time.monotonic() - start,
        interrupted=interrupted or cut_short,
        error=error or deliveries.error,
    )
    log.log(logging.INFO if report.ok else logging.ERROR, "published to %s: %s", topic, report)
    return report


def _pace(deadline: float, interval: float) -> float:
    """Wait for this message's send time; return the next one's.

    Deadlines are absolute, so short oversleeps are made up by sending the next messages
    without waiting; a backlog longer than MAX_LAG_S is dropped rather than burst out.
    """
    now = time.monotonic()
    if deadline > now:
        time.sleep(deadline - now)
    elif now - deadline > MAX_LAG_S:
        deadline = now
    return deadline + interval


def _produce(producer: ProducerLike, topic: str, value: bytes, key: str) -> None:
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:  # local queue full: serve delivery reports until there is room
            producer.poll(0.05)


def _drain(producer: ProducerLike, progress_every_s: float) -> tuple[int, bool]:
    """Flush; return (messages never acknowledged, whether a KeyboardInterrupt cut it short).

    Flushing ends because librdkafka fails every message after `message.timeout.ms`.
    """
    try:
        while (waiting := producer.flush(max(progress_every_s, 1.0))) > 0:
            log.info("waiting for %d ticks to be acknowledged", waiting)
    except KeyboardInterrupt:
        waiting = len(producer)
        log.warning("flush interrupted; %d ticks not acknowledged", waiting)
        return waiting, True
    return 0, False


def produce(
    settings: Settings,
    *,
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    count: int = 0,
    rate: float = 0.0,
    seed: int | None = None,
    model: Model = DEFAULT_MODEL,
    tick_interval_s: float = 1.0,
    start: datetime | None = None,
    replay: Path | None = None,
    symbol: str | None = None,
    bar_seconds: float | None = None,
    progress_every_s: float = 5.0,
    on_progress: Callable[[PublishReport], None] | None = None,
) -> PublishReport:
    """The `financelake produce` command: simulate (or replay a file) and publish.

    `count` caps the ticks (0 = endless for the simulation, the whole file for a replay);
    `seed` defaults to `settings.seed`; a replay's symbol, for a file without a Symbol column,
    defaults to the file name's stem. Arguments and the whole file are checked before Kafka
    is contacted; a replay's report says how many of the file's rows and ticks were sent.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0 (0 = no limit), got {count}")
    if replay is not None:
        source = replay_file(replay, symbol, bar_seconds=bar_seconds)
        report = publish(
            source.ticks[:count] if count else source.ticks,
            settings,
            rate=rate,
            progress_every_s=progress_every_s,
            on_progress=on_progress,
        )
        return replace(report, replayed=source.describe(report.sent))
    ticks = simulate_ticks(
        symbols,
        model=model,
        seed=settings.seed if seed is None else seed,
        start=start,
        tick_interval_s=tick_interval_s,
        count=count,
    )
    return publish(
        ticks, settings, rate=rate, progress_every_s=progress_every_s, on_progress=on_progress
    )
