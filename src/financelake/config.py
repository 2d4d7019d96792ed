"""The one typed, frozen settings object.

Every path, topic, interval and hyper-parameter lives here. Values come from, in order of
precedence: CLI flags (passed as keyword arguments), environment variables `FINANCELAKE_<NAME>`,
then the defaults below. Table and checkpoint locations are derived from `lake_root`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

TABLES = (
    "bronze",
    "silver",
    "quarantine",
    "gold",
    "gold_live",
    "gold_ml",
    "gold_predictions",
    "gold_rl",
    "gold_rl_equity",
)

_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


def interval_seconds(text: str) -> int:
    """Seconds in an interval such as '1 minute' or '30 seconds' (the subset Spark and we share)."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(
            f"interval {text!r} is not of the form '<N> second|minute|hour|day|week[s]'"
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


class Settings(BaseSettings):
    """Everything FinanceLake can be told. Immutable once built."""

    model_config = SettingsConfigDict(env_prefix="FINANCELAKE_", frozen=True, extra="forbid")

    # Where things live
    lake_root: str = "./lake"
    jars_dir: Path = REPO_ROOT / ".jars"
    kafka_data_dir: Path = Path("./.financelake/kafka")

    # Kafka
    bootstrap_servers: str = "localhost:9092"
    topic: str = "stock_prices"
    topic_partitions: int = Field(default=4, ge=1)
    kafka_timeout_s: float = Field(default=20.0, gt=0)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    # Spark
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    spark_ui: bool = True
    shuffle_partitions: int = Field(default=4, ge=1)

    # Pipeline
    bar_interval: str = "1 minute"
    watermark_delay: str = "30 seconds"
    trigger_interval: str = "1 second"
    gold_trigger_interval: str = "10 seconds"
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    compact_interval_s: float = Field(default=600.0, gt=0)

    # Training cycle (classifier, then trader)
    train_interval_s: float = Field(default=60.0, gt=0)
    min_labelled_bars: int = Field(default=30, ge=2)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    walk_forward_folds: int = Field(default=0, ge=0)
    lr_max_iter: int = Field(default=50, ge=1)
    lr_reg_param: float = Field(default=0.01, ge=0)

    # Trader
    initial_capital: float = Field(default=10_000.0, gt=0)
    position_size: float = Field(default=0.1, gt=0, le=1)
    fee_rate: float = Field(default=0.001, ge=0, lt=1)
    allow_short: bool = False
    rl_alpha: float = Field(default=0.1, gt=0, le=1)
    rl_gamma: float = Field(default=0.95, ge=0, le=1)
    rl_epsilon: float = Field(default=0.1, ge=0, le=1)
    rl_epsilon_decay: float = Field(default=0.995, gt=0, le=1)
    rl_episodes: int = Field(default=5, ge=1)
    seed: int = 7

    @field_validator("bar_interval", "watermark_delay", "trigger_interval", "gold_trigger_interval")
    @classmethod
    def _valid_interval(cls, value: str) -> str:
        interval_seconds(value)
        return value

    @field_validator("lake_root")
    @classmethod
    def _absolute_lake_root(cls, value: str) -> str:
        # A URI (s3a://, abfss://, file:/...) is kept; a plain path becomes absolute so that
        # Spark executors and delta-rs agree on it whatever their working directory.
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/", value):
            return value.rstrip("/")
        return str(Path(value).expanduser().resolve())

    # Derived locations -------------------------------------------------------------------
    def table_path(self, name: str) -> str:
        """Location of one of the lake's Delta tables."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
        return f"{self.lake_root}/{name}"

    def checkpoint_path(self, query: str) -> str:
        """Checkpoint location of one streaming query."""
        return f"{self.lake_root}/_checkpoints/{query}"

    @property
    def models_path(self) -> str:
        return f"{self.lake_root}/_models"

    @property
    def bar_seconds(self) -> int:
        return interval_seconds(self.bar_interval)

    @property
    def watermark_seconds(self) -> int:
        return interval_seconds(self.watermark_delay)

    @property
    def is_local_lake(self) -> bool:
        return self.lake_root.startswith("/")
