"""The topic's live watermarks, asked of Kafka with a short timeout (for a stream's lag)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from financelake.config import Settings
from financelake.kafka.client import error_summary, quiet_config

KAFKA_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class TopicOffsets:
    """Live (low, high) watermarks of each partition of a topic, or why there are none."""

    topic: str
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None

    @property
    def end_offset_total(self) -> int:
        return sum(high for _, high in self.partitions.values())


def topic_offsets(settings: Settings, timeout_s: float = KAFKA_TIMEOUT_S) -> TopicOffsets:
    """Ask Kafka for the watermarks of `settings.topic`, giving up after about `timeout_s`."""
    errors: list[KafkaError] = []
    config = quiet_config(
        settings,
        errors,
        **{
            "group.id": "financelake-status",
            "enable.auto.commit": False,
            "socket.timeout.ms": max(100, int(timeout_s * 1000)),
        },
    )
    topic = settings.topic
    deadline = time.monotonic() + timeout_s
    consumer = Consumer(config)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            why = described.error if described is not None else "no metadata"
            return TopicOffsets(topic, error=f"topic {topic!r} not found ({why})")
        partitions: dict[int, tuple[int, int]] = {}
        for partition in sorted(described.partitions):
            remaining = max(0.1, deadline - time.monotonic())
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=remaining
            )
            partitions[partition] = (int(low), int(high))
        return TopicOffsets(topic, partitions)
    except KafkaException as exc:
        consumer.poll(0)  # serve error_cb: list_topics does not
        return TopicOffsets(
            topic,
            error=f"Kafka at {settings.bootstrap_servers} did not answer in {timeout_s:g} s "
            f"({error_summary(errors, str(exc))})",
        )
    finally:
        consumer.close()
