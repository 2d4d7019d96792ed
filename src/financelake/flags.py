"""Command-line flags for the settings, generated from the Settings fields.

Every setting gets a `--kebab-case` flag on every command, so `--help` lists all of them and a
new Settings field needs no CLI change. Some commands also keep older, shorter flags for a few
settings (`--master`, `--partitions`, ...); those are declared in cli.py and mapped in ALIASES.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from financelake.config import Settings

# Hand-written flag destination -> Settings field.
ALIASES = {
    "lake_root": "lake_root",
    "bootstrap_servers": "bootstrap_servers",
    "topic": "topic",
    "partitions": "topic_partitions",
    "master": "spark_master",
    "bar_interval": "bar_interval",
    "watermark": "watermark_delay",
    "trigger_interval": "trigger_interval",
    "gold_trigger_interval": "gold_trigger_interval",
    "max_offsets_per_trigger": "max_offsets_per_trigger",
    "max_future": "max_future",
    "field_map": "field_map",
    "train_interval": "train_interval_s",
    "security_protocol": "security_protocol",
    "sasl_mechanism": "sasl_mechanism",
    "sasl_username": "sasl_username",
    "kafka_data_dir": "kafka_data_dir",
    "seed": "seed",
}

# Generated flags store under this prefix, so they never clash with a command's own options.
_DEST_PREFIX = "setting."


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--<setting-name>` for each setting whose flag `parser` does not declare already."""
    # argparse has no public list of a parser's options; `_actions` is what its own code reads.
    declared = {option for action in parser._actions for option in action.option_strings}
    group = parser.add_argument_group(
        "settings",
        "each also FINANCELAKE_<NAME> or a key of the --config file; flags win over both. "
        "Secrets (sasl_password) are never flags: use the variable or the file.",
    )
    for name, info in Settings.model_fields.items():
        flag = f"--{name.replace('_', '-')}"
        kind, choices = _flag_type(info)
        if flag in declared or kind is SecretStr:
            continue
        dest, help_text = _DEST_PREFIX + name, f"default {_default_text(info)}"
        if kind is bool:
            group.add_argument(
                flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(
                flag,
                dest=dest,
                type=kind,
                choices=choices,
                metavar=None if choices else name.upper(),
                default=argparse.SUPPRESS,
                help=help_text,
            )


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    """--log-level and --log-format, for the top-level parser (before the command)."""
    for name in ("log_level", "log_format"):
        kind, choices = _flag_type(Settings.model_fields[name])
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=_DEST_PREFIX + name,
            type=kind,
            choices=choices,
            default=argparse.SUPPRESS,
            help=f"default {_default_text(Settings.model_fields[name])}; also after the command",
        )


def setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by Settings field name (--<name> over aliases)."""
    given = {
        field: getattr(args, dest)
        for dest, field in ALIASES.items()
        if getattr(args, dest, None) is not None
    }
    for dest, value in vars(args).items():
        if dest.startswith(_DEST_PREFIX):
            given[dest.removeprefix(_DEST_PREFIX)] = value
    return given


def _flag_type(info: FieldInfo) -> tuple[Callable[[str], Any], list[Any] | None]:
    """The argparse type and choices of a field: `X | None` is X; a Literal or an Enum is its
    choices; any other type is passed as text, for pydantic to parse like an env variable."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = (arg for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is Literal:
        choices = list(get_args(annotation))
        if all(isinstance(choice, str) and choice.isupper() for choice in choices):
            return str.upper, choices  # --log-level debug, like FINANCELAKE_LOG_LEVEL=debug
        return type(choices[0]), choices
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        values = [member.value for member in annotation]
        return type(values[0]), values
    if annotation in (bool, int, float, str, Path, SecretStr):
        return annotation, None  # type: ignore[return-value]
    return str, None


def _default_text(info: FieldInfo) -> str:
    default = info.get_default(call_default_factory=True, validated_data={})
    return str(default).replace("%", "%%")  # argparse formats help with %
