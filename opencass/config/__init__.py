"""Configuration: typed model, TOML loading with strict validation, the demo configuration.

The names below are loaded when first used (``from opencass.config import load_config`` reads
the loader then, not before): a command that needs only the model does not pay for the loader,
the demo writer and their dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "cmd_check_config": "commands",
    "cmd_demo_init": "commands",
    "DemoError": "demo",
    "DemoInfo": "demo",
    "init_demo": "demo",
    "is_demo": "demo",
    "calendar_changes": "diff",
    "diff_configs": "diff",
    "load_config": "loader",
    "BanPolicy": "model",
    "Company": "model",
    "CompanyKind": "model",
    "Config": "model",
    "Country": "model",
    "GatewaySettings": "model",
    "Limits": "model",
    "Period": "model",
    "Role": "model",
    "User": "model",
    "ConfigError": "reader",
    "Problem": "reader",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
