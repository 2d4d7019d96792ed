"""The CLI's settings: --version, log flags, the TOML file, precedence and `config show`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from pydantic import SecretStr

from financelake.cli import main, parse_only
from financelake.config import CONFIG_ENV, Settings, setting_origins
from financelake.flags import _flag_type, setting_flags
from financelake.logs import configure_logging


@pytest.fixture(autouse=True)
def no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # `--config` sets the variable for child processes; undo it after each test.
    monkeypatch.delenv(CONFIG_ENV, raising=False)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"financelake {version('financelake')}"


def test_log_flags_work_before_and_after_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_only(["--log-level", "DEBUG", "status"])[1].log_level == "DEBUG"
    _, after = parse_only(["status", "--log-level", "WARNING", "--log-format", "json"])
    assert (after.log_level, after.log_format) == ("WARNING", "json")
    # After the command wins over before it, as the later flag.
    assert parse_only(["--log-level", "DEBUG", "run", "--log-level", "ERROR"])[1].log_level == (
        "ERROR"
    )
    monkeypatch.setenv("FINANCELAKE_LOG_LEVEL", "WARNING")
    assert parse_only(["status"])[1].log_level == "WARNING"


def test_log_level_takes_any_case_from_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_only(["--log-level", "debug", "status"])[1].log_level == "DEBUG"
    assert parse_only(["status", "--log-level", "Warning"])[1].log_level == "WARNING"
    monkeypatch.setenv("FINANCELAKE_LOG_LEVEL", "error")
    assert parse_only(["status"])[1].log_level == "ERROR"
    with pytest.raises(SystemExit):
        parse_only(["status", "--log-level", "verbose"])


def test_json_logs_are_one_object_per_line_with_extras(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("financelake.test").info("wrote %d rows", 3, extra={"table": "gold"})
    logging.getLogger("financelake.test").debug("below the level")
    (line,) = capsys.readouterr().err.strip().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "financelake.test"
    assert entry["message"] == "wrote 3 rows"
    assert entry["table"] == "gold"
    assert entry["time"].endswith("+00:00")


def test_precedence_is_flags_then_env_then_file_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_toml(
        tmp_path / "financelake.toml",
        'topic = "file"\nfee_rate = 0.002\nrl_alpha = 0.3\nsasl_password = "hunter2"\n',
    )
    monkeypatch.setenv("FINANCELAKE_TOPIC", "env")
    monkeypatch.setenv("FINANCELAKE_RL_ALPHA", "0.4")
    argv = ["config", "show", "--json", "--config", str(config), "--rl-alpha", "0.5"]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["rl_alpha"] == {"value": 0.5, "from": "flag"}
    assert shown["topic"] == {"value": "env", "from": "env"}
    assert shown["fee_rate"] == {"value": 0.002, "from": "file"}
    assert shown["rl_gamma"] == {"value": 0.99, "from": "default"}
    assert shown["sasl_password"] == {"value": "**********", "from": "file"}
    assert "hunter2" not in json.dumps(shown)
    # The same file through the variable, and Settings() anywhere in the process reads it.
    monkeypatch.setenv(CONFIG_ENV, str(config))
    assert Settings().fee_rate == 0.002


def test_config_show_as_text_names_the_file_and_each_origin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_toml(tmp_path / "c.toml", 'spark_driver_memory = "6g"\n')
    assert main(["config", "show", "--config", str(config), "--seed", "11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"settings file: {config}"
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["spark_driver_memory"] == ["file", '"6g"']
    assert rows["seed"] == ["flag", "11"]
    assert rows["topic"] == ["default", '"stock_prices"']
    assert set(rows) == set(Settings.model_fields)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fee_rat = 0.1\n", "fee_rat"),  # a typo is an error, not a silent default
        ("fee_rate = \n", "not valid TOML"),
        ("fee_rate = 2.0\n", "fee_rate"),  # out of range
    ],
)
def test_a_bad_settings_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    config = write_toml(tmp_path / "bad.toml", text)
    assert main(["config", "show", "--config", str(config)]) != 0
    assert message in capsys.readouterr().err


def test_a_missing_settings_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "--config", str(tmp_path / "nope.toml")]) == 1
    assert "nope.toml" in capsys.readouterr().err


def flag_value(name: str) -> list[str]:
    """A command-line value for a setting: its default, or a valid sample if it has none."""
    info = Settings.model_fields[name]
    kind, choices = _flag_type(info)
    flag = "--" + name.replace("_", "-")
    if kind is bool:
        return [flag]
    default = info.get_default(call_default_factory=True, validated_data={})
    if default is None:
        default = choices[0] if choices else {int: 1, float: 1.0, str: "x", Path: "x"}[kind]
    return [flag, str(default)]


@pytest.mark.parametrize(
    "command", [["status"], ["run"], ["demo"], ["kafka", "start"], ["sql", "SELECT 1"], ["setup"]]
)
def test_every_setting_but_secrets_has_its_flag_on_every_command(command: list[str]) -> None:
    for name, info in Settings.model_fields.items():
        if _flag_type(info)[0] is SecretStr:
            continue
        args, settings = parse_only([*command, *flag_value(name)])
        given = setting_flags(args)
        assert name in given, (command, name)
        assert getattr(settings, name) == getattr(Settings(**{name: given[name]}), name)
        assert setting_origins(given)[name] == "flag"


def test_the_older_short_flags_still_set_their_settings() -> None:
    _, settings = parse_only(["run", "--master", "local[1]", "--watermark", "5 seconds"])
    assert (settings.spark_master, settings.watermark_delay) == ("local[1]", "5 seconds")
    _, settings = parse_only(["run", "--watermark", "5 seconds", "--watermark-delay", "7 seconds"])
    assert settings.watermark_delay == "7 seconds"


def test_help_lists_the_settings_without_a_short_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = capsys.readouterr().out
    for flag in ("--fee-rate", "--rl-gamma", "--spark-driver-memory", "--log-format"):
        assert flag in shown
