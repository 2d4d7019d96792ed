"""The one typed, frozen settings object.

Every path, topic, interval and hyper-parameter lives here. Values come from, in order of
precedence: CLI flags (passed as keyword arguments), environment variables `FINANCELAKE_<NAME>`,
the TOML file named by `FINANCELAKE_CONFIG` (or `--config`), then the defaults below. Table and
checkpoint locations are derived from `lake_root`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from financelake.catalog import TABLE_NAMES, table
from financelake.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]

TABLES = TABLE_NAMES
"""The lake's table names, from the catalog (`financelake.catalog`)."""
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")

_UNITS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
}
_INTERVAL = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


# The variable naming the TOML settings file. The CLI's --config sets it too, so the child
# processes of `demo` read the same file.
CONFIG_ENV = "FINANCELAKE_CONFIG"

SettingOrigin = Literal["flag", "env", "file", "default"]


def config_file() -> Path | None:
    """The TOML settings file named by FINANCELAKE_CONFIG, if any; a named file must exist."""
    name = os.environ.get(CONFIG_ENV)
    if not name:
        return None
    path = Path(name).expanduser()
    if not path.is_file():
        # pydantic-settings skips a missing file silently; a typo must not fall back to defaults.
        raise ConfigError(f"settings file {path} ({CONFIG_ENV} or --config) does not exist")
    return path


def _file_source(settings_cls: type[BaseSettings]) -> TomlConfigSettingsSource:
    path = config_file()
    try:
        return TomlConfigSettingsSource(settings_cls, path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc


def default_jars_dir() -> Path:
    """Where `financelake setup` puts the JVM jars: the user's cache folder (XDG on Linux)."""
    return platformdirs.user_cache_path("financelake") / "jars"


def interval_seconds(text: str) -> int:
    """Seconds in an interval such as '1 minute' or '30 seconds' (the subset Spark and we share)."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(
            f"interval {text!r} is not of the form '<N> second|minute|hour|day|week[s]'"
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def local_path(uri: str) -> Path | None:
    """The local file-system path of a lake location, or None for a remote store (s3a://, ...).

    A plain path and a `file:` URI (`file:/x`, `file:///x`, `file://localhost/x`) are local.
    """
    if not _URI.match(uri):
        return Path(uri)
    parts = urlsplit(uri)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path))
    return None


MESSAGE_FIELDS = ("symbol", "price", "volume", "open", "high", "low", "timestamp", "trade_id")


def parse_field_map(text: str) -> dict[str, str]:
    """'symbol=s,price=p' -> {'symbol': 's', 'price': 'p'}; unknown or repeated names fail."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        field, sep, source = (side.strip() for side in item.partition("="))
        if not sep or not source or field not in MESSAGE_FIELDS or field in mapping:
            raise ValueError(
                f"field map entry {item!r} is not '<field>=<name in the message>' with a "
                f"distinct field among {', '.join(MESSAGE_FIELDS)}"
            )
        mapping[field] = source
    names = {**{name: name for name in MESSAGE_FIELDS}, **mapping}
    if len(set(names.values())) < len(names):
        raise ValueError(f"field map {text!r} gives two fields the same message name")
    return mapping


class Settings(BaseSettings):
    """Everything FinanceLake can be told. Immutable once built."""

    model_config = SettingsConfigDict(env_prefix="FINANCELAKE_", frozen=True, extra="forbid")

    # Where things live
    lake_root: str = "./lake"
    jars_dir: Path = Field(default_factory=default_jars_dir)
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
    # Record (`financelake setup`) and map the driver's class-data archive (class_archive.py).
    class_archive: bool = True
    # Shuffle partitions: the ingest summary's, Gold's state store's (fixed in its checkpoint at
    # the first start) and training's. Each costs a task per batch: Gold's stateful fold ran a
    # Python task of ~0.25 s per partition every 10 s. 2 against 4 on the 2-core VM, alternating:
    # Silver p50 at 1,000 ticks/s 1.48/1.58 s against 1.68-1.86 s. Raise it for many symbols.
    shuffle_partitions: int = Field(default=2, ge=1)

    # Pipeline
    bar_interval: str = "1 minute"
    watermark_delay: str = "30 seconds"
    trigger_interval: str = "1 second"
    gold_trigger_interval: str = "10 seconds"
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    compact_interval_s: float = Field(default=600.0, gt=0)  # how often maintenance runs

    # Maintenance and retention (long runs): see maintenance.py
    vacuum_retention: str = "7 days"
    log_retention: str = "1 day"
    keep_models: int = Field(default=20, ge=1)
    predictions_retention: str = "30 days"
    equity_retention: str = "30 days"
    # Ticks stamped further ahead of the time Kafka received them are quarantined (`future`).
    max_future: str = "5 minutes"
    # Message field names of another feed, e.g. "symbol=s,price=p,volume=v,timestamp=t".
    field_map: str = ""

    # `financelake status --check` (a health check): a stream with source data waiting and no
    # batch for check_stale_s is stale; more Kafka messages unread than check_max_lag is lag.
    check_stale_s: float = Field(default=120.0, gt=0)
    check_max_lag: int = Field(default=100_000, ge=0)

    # The service's Prometheus endpoint, http://<host>:<port>/metrics (see metrics.py); 0 turns
    # it off. 9108 sits among the exporters' ports and clear of Spark's UI (4040+) and Kafka.
    metrics_port: int = Field(default=9108, ge=0, le=65535)

    # Training cycle (classifier, then trader)
    train_interval_s: float = Field(default=60.0, gt=0)
    # Each cycle learns from the closed bars of this much market time before the watermark.
    # Learning from all of Gold made every cycle slower and bigger as Gold grew: a soak's
    # service RSS rose in steps with it (README, "Running for weeks").
    training_window: str = "30 days"
    min_labelled_bars: int = Field(default=30, ge=2)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    walk_forward_folds: int = Field(default=0, ge=0)
    lr_max_iter: int = Field(default=50, ge=1)
    lr_reg_param: float = Field(default=0.01, ge=0)
    # Fewer test rows (or bars, for a trader) decide nothing: a coin's AUC on 6 rows ranges over
    # [0.06, 0.94]; on 200 its 95% range is about 0.5 +- 0.08.
    min_test_rows: int = Field(default=200, ge=2)
    min_test_bars: int = Field(default=100, ge=2)

    # Trader
    initial_capital: float = Field(default=10_000.0, gt=0)
    # The trader is all in or all out (a BUY spends the whole equity): with 10% steps it needed
    # ten BUYs to be invested and learned to stay flat; exposure_matched_return keeps the
    # comparison with buy-and-hold fair whatever the size.
    position_size: float = Field(default=1.0, gt=0, le=1)
    fee_rate: float = Field(default=0.001, ge=0, lt=1)
    allow_short: bool = False
    # Every episode learns every position and action at every training bar (rl/backtest.py), so
    # nothing explores; alpha is the floor of a 1 / visits learning rate (see rl/agent.py). A
    # gamma of 0.99 looks about 100 bars ahead: the mean-reverting model's swings take tens of
    # bars to pay a round trip's fees, and with 0.9 the agent never traded them.
    rl_alpha: float = Field(default=0.01, gt=0, le=1)
    rl_gamma: float = Field(default=0.99, ge=0, le=1)
    rl_episodes: int = Field(default=10, ge=1)
    # Annualising calendar: "24x7" (the simulator) or "equities" (252 days x 6.5 h).
    market_calendar: Literal["24x7", "equities"] = "24x7"
    # The classifier's signal, traded: long while P(up) > this, flat otherwise.
    signal_threshold: float = Field(default=0.55, gt=0, lt=1)
    seed: int = 7

    # MLflow tracking of training cycles (the `financelake[mlflow]` extra; see tracking.py): on
    # whenever mlflow is installed, FINANCELAKE_MLFLOW=off turns it off. No tracking URI means
    # the file store <lake_root>/_mlflow, which also holds the model registry.
    mlflow: bool = True
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = "financelake"
    mlflow_model_name: str = "financelake-direction"

    # Logs
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (keyword arguments) > FINANCELAKE_* > the TOML file > defaults. No .env file or
        # secrets folder: one file format, read by pydantic-settings itself.
        return init_settings, env_settings, _file_source(settings_cls)

    @field_validator(
        "bar_interval",
        "watermark_delay",
        "trigger_interval",
        "gold_trigger_interval",
        "vacuum_retention",
        "log_retention",
        "predictions_retention",
        "equity_retention",
        "max_future",
        "training_window",
    )
    @classmethod
    def _valid_interval(cls, value: str) -> str:
        interval_seconds(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        # `debug` and `DEBUG` alike, as logging itself and most tools accept
        return value.upper() if isinstance(value, str) else value

    @field_validator("field_map")
    @classmethod
    def _valid_field_map(cls, value: str) -> str:
        parse_field_map(value)
        return value

    @field_validator("lake_root")
    @classmethod
    def _absolute_lake_root(cls, value: str) -> str:
        # A remote URI (s3a://, abfss://) is kept; a local path or file: URI becomes a plain
        # absolute path, so Spark executors, delta-rs and Path() all agree on it (spark.py sets
        # no other default file system, so Spark reads a plain path as file:).
        local = local_path(value)
        if local is None:
            return value.rstrip("/")
        return str(local.expanduser().resolve())

    # Derived locations -------------------------------------------------------------------
    def table_path(self, name: str) -> str:
        """Location of one of the lake's Delta tables (a name from the catalog)."""
        return f"{self.lake_root}/{table(name).name}"

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
    def training_window_seconds(self) -> int:
        return interval_seconds(self.training_window)

    @property
    def max_future_seconds(self) -> int:
        return interval_seconds(self.max_future)

    @property
    def tombstone_retention(self) -> str:
        """How long Delta keeps removed files (`delta.deletedFileRetentionDuration`): the vacuum
        retention, but never longer than the log's, which Delta requires."""
        return min(self.vacuum_retention, self.log_retention, key=interval_seconds)

    @property
    def message_fields(self) -> dict[str, str]:
        """Tick field -> the name it has in the feed's messages (itself unless mapped)."""
        return {**{name: name for name in MESSAGE_FIELDS}, **parse_field_map(self.field_map)}

    @property
    def is_local_lake(self) -> bool:
        return local_path(self.lake_root) is not None


def setting_origins(flags: Mapping[str, Any]) -> dict[str, SettingOrigin]:
    """Where each setting's effective value comes from, by the precedence Settings applies."""
    from_env = EnvSettingsSource(Settings)()
    from_file = _file_source(Settings)()
    origins: dict[str, SettingOrigin] = {}
    for name in Settings.model_fields:
        if name in flags:
            origins[name] = "flag"
        elif name in from_env:
            origins[name] = "env"
        elif name in from_file:
            origins[name] = "file"
        else:
            origins[name] = "default"
    return origins
