"""Kafka client settings shared by confluent-kafka (producer/admin) and Spark's Kafka source.

The same security options reach both, spelled the way each client wants them. Secrets are
only ever put into these dictionaries, never logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from financelake.config import Settings
from financelake.errors import KafkaUnavailableError

log = logging.getLogger(__name__)
_METADATA_ROUND_S = 1.0


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


def quiet_config(settings: Settings, errors: list[KafkaError], **extra: Any) -> dict[str, Any]:
    """`confluent_config` whose client errors are collected into `errors`, not logged.

    librdkafka retries a refused or unreachable broker quietly; the collected errors make one
    clear message (`error_summary`) instead of a stream of log lines repeating them.
    """
    return {**confluent_config(settings), "error_cb": errors.append, "log_level": 0, **extra}


def error_summary(errors: list[KafkaError], fallback: str) -> str:
    """The distinct collected errors, in order, or `fallback` if there were none."""
    return "; ".join(dict.fromkeys(error.str() for error in errors)) or fallback


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
    """Topic name -> partition count, or a clear error if the cluster does not answer.

    Metadata is asked for in short rounds so that a refused login, which librdkafka would
    otherwise retry silently until the timeout, ends the wait at once with its own message.
    """
    timeout = settings.kafka_timeout_s if timeout_s is None else timeout_s
    errors: list[KafkaError] = []
    admin = AdminClient(quiet_config(settings, errors))
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            metadata = admin.list_topics(timeout=max(0.1, min(_METADATA_ROUND_S, remaining)))
            break
        except KafkaException as exc:
            admin.poll(0)  # serve error_cb: list_topics does not
            refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
            if refused:
                raise KafkaUnavailableError(
                    f"Kafka at {settings.bootstrap_servers} refused the credentials "
                    f"(authentication failed: {refused[0].str()}). Check "
                    "FINANCELAKE_SASL_USERNAME / FINANCELAKE_SASL_PASSWORD and "
                    "FINANCELAKE_SASL_MECHANISM."
                ) from exc
            if time.monotonic() >= deadline:
                detail = error_summary(errors, str(exc))
                raise KafkaUnavailableError(
                    f"Kafka at {settings.bootstrap_servers} did not answer within "
                    f"{timeout:.0f} s ({detail}). Start one with `financelake kafka start` "
                    "or pass --bootstrap-servers."
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
