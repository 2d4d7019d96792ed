"""The one way to hand Settings to a child process: as FINANCELAKE_* environment variables.

The child (`python -m financelake ...`, the dashboard's Streamlit script) builds the same
`Settings` from them, so every setting travels, secrets included, without appearing on a
command line that `ps` would show.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import SecretStr

from financelake.config import Settings

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))


def settings_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with every setting as FINANCELAKE_<NAME>.

    Unset optional settings are removed, so the child cannot pick up a stale value.
    """
    env = dict(os.environ if base is None else base)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        key = f"{ENV_PREFIX}{name.upper()}"
        if value is None:
            env.pop(key, None)
        elif isinstance(value, SecretStr):
            env[key] = value.get_secret_value()
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        else:
            env[key] = str(value)
    return env
