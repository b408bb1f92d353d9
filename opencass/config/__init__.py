"""Configuration: typed model, TOML loading with strict validation, the demo configuration."""

from opencass.config.commands import cmd_check_config, cmd_demo_init
from opencass.config.demo import DemoError, DemoInfo, init_demo, is_demo
from opencass.config.diff import calendar_changes, diff_configs
from opencass.config.loader import load_config
from opencass.config.model import (
    BanPolicy,
    Company,
    CompanyKind,
    Config,
    Country,
    GatewaySettings,
    Limits,
    Period,
    Role,
    User,
)
from opencass.config.reader import ConfigError, Problem

__all__ = [
    "BanPolicy",
    "Company",
    "CompanyKind",
    "Config",
    "ConfigError",
    "Country",
    "DemoError",
    "DemoInfo",
    "GatewaySettings",
    "Limits",
    "Period",
    "Problem",
    "Role",
    "User",
    "calendar_changes",
    "cmd_check_config",
    "cmd_demo_init",
    "diff_configs",
    "init_demo",
    "is_demo",
    "load_config",
]
