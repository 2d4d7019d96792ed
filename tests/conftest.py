"""Session-wide fixtures: one SparkSession, and one real Kafka broker for the integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from financelake.config import CONFIG_ENV, REPO_ROOT, Settings
from financelake.kafka.broker import EmbeddedBroker, free_port
from financelake.spark import build_spark

# Spark must not inherit a user's FINANCELAKE_* environment in tests.
for _name in [name for name in os.environ if name.startswith("FINANCELAKE_")]:
    del os.environ[_name]
# The jars `make setup` resolved into this checkout, for Settings() here and in child processes.
os.environ["FINANCELAKE_JARS_DIR"] = str(REPO_ROOT / ".jars")


@pytest.fixture(autouse=True)
def _config_file_stays_in_its_test() -> Iterator[None]:
    """`main(["--config", ...])` sets FINANCELAKE_CONFIG for its process, as the CLI must; in
    the test process that would hand one test's settings file to every later Settings()."""
    before = os.environ.get(CONFIG_ENV)
    yield
    if before is None:
        os.environ.pop(CONFIG_ENV, None)
    else:
        os.environ[CONFIG_ENV] = before


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("financelake")


@pytest.fixture(scope="session")
def spark(session_dir: Path) -> Iterator[SparkSession]:
    """One local[2] SparkSession for the whole run: UI off, few shuffle partitions."""
    settings = Settings(
        lake_root=str(session_dir / "lake"),
        spark_master="local[2]",
        spark_ui=False,
        shuffle_partitions=2,
    )
    session = build_spark(settings, app_name="financelake-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def broker(session_dir: Path) -> Iterator[EmbeddedBroker]:
    """A real single-node KRaft broker on a free port, for the whole test session."""
    embedded = EmbeddedBroker(
        data_dir=session_dir / "kafka", port=free_port(), jars_dir=REPO_ROOT / ".jars"
    )
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def settings(tmp_path: Path, broker: EmbeddedBroker, request: pytest.FixtureRequest) -> Settings:
    """Settings for one test: its own lake under tmp_path and its own topic on the broker."""
    topic = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:120]
    return Settings(
        lake_root=str(tmp_path / "lake"),
        bootstrap_servers=broker.address,
        topic=topic,
        spark_master="local[2]",
        spark_ui=False,
        shuffle_partitions=2,
        kafka_data_dir=broker.data_dir,
        metrics_port=0,  # a test that scrapes the service gives it a free port
    )
