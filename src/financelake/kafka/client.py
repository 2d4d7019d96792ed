"""Kafka client settings shared by confluent-kafka (producer/admin) and Spark's Kafka source.

The same security options reach both, spelled the way each client wants them. Secrets are
only ever put into these dictionaries, never logged.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from financelake.config import Settings
from financelake.errors import KafkaUnavailableError

log = logging.getLogger(__name__)


def confluent_config(settings: Settings) -> dict[str, Any]:
    """librdkafka configuration (producer, consumer and admin)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username or ""
        config["sasl.password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        )
    if settings.ssl_cafile:
        config["ssl.ca.location"] = str(settings.ssl_cafile)
    if settings.ssl_certfile:
        config["ssl.certificate.location"] = str(settings.ssl_certfile)
    if settings.ssl_keyfile:
        config["ssl.key.location"] = str(settings.ssl_keyfile)
    return config


def spark_kafka_options(settings: Settings) -> dict[str, str]:
    """Options for Spark's Kafka source (`kafka.`-prefixed Java client properties)."""
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "kafka.security.protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        user = settings.sasl_username or ""
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if settings.sasl_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        options["kafka.sasl.mechanism"] = settings.sasl_mechanism
        options["kafka.sasl.jaas.config"] = (
            f'{module} required username="{_escape(user)}" password="{_escape(password)}";'
        )
    if settings.ssl_cafile:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = str(settings.ssl_cafile)
    if settings.ssl_certfile and settings.ssl_keyfile:
        options["kafka.ssl.keystore.type"] = "PEM"
        options["kafka.ssl.keystore.certificate.chain"] = settings.ssl_certfile.read_text()
        options["kafka.ssl.keystore.key"] = settings.ssl_keyfile.read_text()
    return options


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(confluent_config(settings))


def describe_cluster(settings: Settings, timeout_s: float | None = None) -> dict[str, int]:
    """Topic name -> partition count, or a clear error if the cluster does not answer."""
    timeout = settings.kafka_timeout_s if timeout_s is None else timeout_s
    errors: list[str] = []
    config = {**confluent_config(settings), "error_cb": lambda err: errors.append(str(err))}
    try:
        metadata = AdminClient(config).list_topics(timeout=timeout)
    except KafkaException as exc:
        detail = "; ".join(dict.fromkeys(errors)) or str(exc)
        if "auth" in detail.lower() or "sasl" in detail.lower():
            raise KafkaUnavailableError(
                f"Kafka at {settings.bootstrap_servers} refused the credentials: {detail}. "
                "Check FINANCELAKE_SASL_USERNAME / FINANCELAKE_SASL_PASSWORD."
            ) from exc
        raise KafkaUnavailableError(
            f"Kafka at {settings.bootstrap_servers} did not answer within {timeout:.0f} s "
            f"({detail}). Start one with `financelake kafka start` or pass --bootstrap-servers."
        ) from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def ensure_topic(
    settings: Settings, topic: str | None = None, partitions: int | None = None
) -> int:
    """Create the topic if it is missing; return its partition count."""
    name = topic or settings.topic
    topics = describe_cluster(settings)
    if name in topics:
        return topics[name]
    count = partitions or settings.topic_partitions
    admin = admin_client(settings)  # must outlive the future below
    futures = admin.create_topics([NewTopic(name, num_partitions=count, replication_factor=1)])
    try:
        futures[name].result(timeout=settings.kafka_timeout_s)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise KafkaUnavailableError(f"could not create topic {name!r}: {exc}") from exc
    log.info("created topic %s with %d partitions", name, count)
    return count


def require_topic(settings: Settings) -> int:
    """The topic's partition count; a clear error if the broker or the topic is missing."""
    topics = describe_cluster(settings)
    if settings.topic not in topics:
        raise KafkaUnavailableError(
            f"topic {settings.topic!r} does not exist on {settings.bootstrap_servers}. "
            "Produce to it first (`financelake produce`) or name another with --topic."
        )
    return topics[settings.topic]
