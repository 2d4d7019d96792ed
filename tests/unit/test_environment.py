"""Settings reach child processes whole: every field round-trips through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from financelake.config import Settings
from financelake.environment import ENV_PREFIX, settings_env

# A value different from the default for every field, so a field that does not travel shows.
NON_DEFAULTS: dict[str, object] = {
    "lake_root": "/data/lake",
    "jars_dir": Path("/opt/jars"),
    "kafka_data_dir": Path("/var/kafka"),
    "bootstrap_servers": "broker-1:9093,broker-2:9093",
    "topic": "ticks",
    "topic_partitions": 8,
    "kafka_timeout_s": 5.5,
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "alice",
    "sasl_password": SecretStr("pa55 'word\""),
    "ssl_cafile": Path("/etc/ca.pem"),
    "ssl_certfile": Path("/etc/cert.pem"),
    "ssl_keyfile": Path("/etc/key.pem"),
    "spark_master": "spark://master:7077",
    "spark_driver_memory": "3g",
    "spark_ui": False,
    "class_archive": False,
    "shuffle_partitions": 9,
    "bar_interval": "5 minutes",
    "watermark_delay": "1 minute",
    "trigger_interval": "2 seconds",
    "gold_trigger_interval": "30 seconds",
    "max_offsets_per_trigger": 1000,
    "compact_interval_s": 60.0,
    "train_interval_s": 30.0,
    "min_labelled_bars": 40,
    "test_fraction": 0.25,
    "walk_forward_folds": 3,
    "lr_max_iter": 70,
    "lr_reg_param": 0.05,
    "initial_capital": 5_000.0,
    "position_size": 0.2,
    "fee_rate": 0.002,
    "allow_short": True,
    "rl_alpha": 0.2,
    "rl_gamma": 0.8,
    "rl_episodes": 7,
    "training_window": "12 hours",
    "seed": 11,
    "log_level": "DEBUG",
    "log_format": "json",
    "min_test_rows": 300,
    "min_test_bars": 50,
    "market_calendar": "equities",
    "signal_threshold": 0.6,
    "vacuum_retention": "10 minutes",
    "log_retention": "2 days",
    "keep_models": 3,
    "predictions_retention": "1 day",
    "equity_retention": "2 days",
    "check_stale_s": 300.0,
    "check_max_lag": 5_000,
    "metrics_port": 9200,
    "max_future": "1 hour",
    "field_map": "symbol=s,price=p",
    "mlflow": False,
    "mlflow_tracking_uri": "sqlite:////srv/mlflow/mlflow.db",
    "mlflow_experiment": "desk-a",
    "mlflow_model_name": "direction-v2",
}


def _child_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    return Settings()


def test_the_table_of_values_covers_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:  # the defaults themselves, whatever other tests set
        monkeypatch.delenv(f"{ENV_PREFIX}{name.upper()}", raising=False)
    monkeypatch.delenv(f"{ENV_PREFIX}CONFIG", raising=False)
    assert set(NON_DEFAULTS) == set(Settings.model_fields)
    defaults = Settings()
    assert all(getattr(defaults, name) != value for name, value in NON_DEFAULTS.items())


def test_every_setting_round_trips_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"{ENV_PREFIX}{name.upper()}", raising=False)
    settings = Settings(**NON_DEFAULTS)  # type: ignore[arg-type]

    env = settings_env(settings, base={"PATH": "/bin"})

    assert env["PATH"] == "/bin"
    assert env["FINANCELAKE_SASL_USERNAME"] == "alice"
    assert env["FINANCELAKE_SASL_PASSWORD"] == "pa55 'word\""
    assert _child_settings(env, monkeypatch) == settings


def test_unset_optional_settings_remove_stale_values(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = {"PATH": "/bin", "FINANCELAKE_MAX_OFFSETS_PER_TRIGGER": "5"}
    monkeypatch.delenv("FINANCELAKE_MAX_OFFSETS_PER_TRIGGER", raising=False)
    settings = Settings(lake_root="/data/lake")

    env = settings_env(settings, base=stale)

    assert "FINANCELAKE_MAX_OFFSETS_PER_TRIGGER" not in env
    assert _child_settings(env, monkeypatch) == settings
