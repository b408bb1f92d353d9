"""``opencass agent reinstate``: the operator lifts an agent's default.

Exit codes: 0 lifted, 2 the agent is not in default (or an unknown country), 3 internal."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from opencass.cli.common import load, run
from opencass.errors import EXIT_OK, ConfigurationError

__all__ = ["cmd_agent"]


class NotInDefaultError(ConfigurationError):
    """The agent named is not in default: nothing to lift."""

    code = "AGENT_NOT_IN_DEFAULT"


def cmd_agent(args: argparse.Namespace, now: datetime) -> int:
    """``opencass agent reinstate --country CC --agent CODE --reason TEXT``."""
    from opencass.billing.remittance import reinstate

    def body() -> int:
        config = load(args)
        if args.country not in config.countries:
            raise ConfigurationError(f"unknown CASS country {args.country!r}")
        if not reinstate(config, args.country, args.agent, args.reason, "operator", now):
            raise NotInDefaultError(f"agent {args.agent} is not in default in {args.country}")
        print(f"agent {args.agent} reinstated in {args.country}: {args.reason}", file=sys.stdout)
        return EXIT_OK

    return run(body, args)
