"""Secured Kafka: a broker that only accepts SASL/PLAIN logins, separate from the session broker.

The same settings (protocol, mechanism, user, password) reach the Python producer and admin and
Spark's Kafka source. With the right password ticks flow end to end into Silver; with a wrong
one `financelake produce` and `financelake run` stop within seconds with a clear authentication
error and a non-zero exit, and no password appears in their output, in Spark's plan or in the
broker's log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pydantic import SecretStr
from pyspark.sql import SparkSession
from support import read_bars

from financelake.config import REPO_ROOT, Settings
from financelake.kafka.broker import EmbeddedBroker, SaslUser, free_port
from financelake.kafka.client import confluent_config, spark_kafka_options
from financelake.market.publisher import produce
from financelake.pipeline import run_available_now

pytestmark = pytest.mark.integration

USER = "finance"
PASSWORD = "s3cret-Fin4nce-pw"  # distinctive, so that a leak is found by searching for it
WRONG = "wr0ng-Gu3ss-pw"
FINANCELAKE = Path(sys.executable).with_name("financelake")
CLI_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(
        data_dir=tmp_path_factory.mktemp("kafka-sasl"),
        port=free_port(),
        jars_dir=REPO_ROOT / ".jars",
        sasl_users=(SaslUser(USER, PASSWORD),),
    )
    broker.start()
    yield broker
    broker.stop()


def secured(address: str, lake: Path, topic: str, password: str) -> Settings:
    return Settings(
        lake_root=str(lake),
        bootstrap_servers=address,
        topic=topic,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username=USER,
        sasl_password=SecretStr(password),
        spark_master="local[2]",
        spark_ui=False,
        shuffle_partitions=2,
    )


def test_python_clients_and_spark_get_the_same_credentials(tmp_path: Path) -> None:
    settings = secured("127.0.0.1:1", tmp_path, "t", PASSWORD)
    python = confluent_config(settings)
    spark = spark_kafka_options(settings)
    assert python["bootstrap.servers"] == spark["kafka.bootstrap.servers"] == "127.0.0.1:1"
    assert python["security.protocol"] == spark["kafka.security.protocol"] == "SASL_PLAINTEXT"
    assert python["sasl.mechanism"] == spark["kafka.sasl.mechanism"] == "PLAIN"
    assert (python["sasl.username"], python["sasl.password"]) == (USER, PASSWORD)
    assert spark["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{USER}" password="{PASSWORD}";'
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())


def test_right_credentials_flow_from_producer_to_silver(
    sasl_broker: EmbeddedBroker, spark: SparkSession, tmp_path: Path
) -> None:
    settings = secured(sasl_broker.address, tmp_path / "lake", "secured_ticks", PASSWORD)
    report = produce(settings, count=200, seed=5, start=datetime(2026, 1, 5, 14, 30))
    assert report.ok, report

    run_available_now(spark, settings)  # the session's SparkSession, this query's options

    silver = DeltaTable(settings.table_path("silver")).to_pandas()
    assert len(silver) == 200
    assert set(silver["topic"]) == {"secured_ticks"}
    assert len(read_bars(settings)) > 0

    # Spark redacts the JAAS option in plans and the broker does not log it.
    source = spark.readStream.format("kafka").options(**spark_kafka_options(settings))
    plan = source.option("subscribe", settings.topic).load()._jdf.queryExecution().toString()
    assert "kafka.sasl.jaas.config" in plan and PASSWORD not in plan
    assert PASSWORD not in sasl_broker.log_path.read_text()


@pytest.mark.parametrize(
    "command",
    [["produce", "--count", "10"], ["run", "--available-now", "--lake-root", "{lake}"]],
    ids=["produce", "run"],
)
def test_a_wrong_password_fails_fast_and_clearly(
    sasl_broker: EmbeddedBroker, tmp_path: Path, command: list[str]
) -> None:
    argv = [
        str(FINANCELAKE), "--log-level", "DEBUG",
        *[arg.format(lake=tmp_path / "lake") for arg in command],
        "--bootstrap-servers", sasl_broker.address, "--topic", "secured_ticks",
        "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN",
        "--sasl-username", USER,
    ]  # fmt: skip
    env = {**os.environ, "FINANCELAKE_SASL_PASSWORD": WRONG, "FINANCELAKE_SPARK_UI": "false"}
    began = time.monotonic()
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S, check=False
    )
    took = time.monotonic() - began

    assert result.returncode != 0, result.stdout + result.stderr
    error = result.stderr.lower()
    assert "refused the credentials" in error and "authentication failed" in error
    assert "financelake_sasl_password" in error  # says what to fix
    assert took < 45, f"took {took:.0f} s: an authentication failure must not wait out timeouts"
    for text in (result.stdout, result.stderr, sasl_broker.log_path.read_text()):
        assert WRONG not in text and PASSWORD not in text
