"""structlog configured for JSON lines on standard output (journald picks them up)."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "info", stream: object = None) -> None:
    """One JSON object per line, with timestamp, level, logger and bound context."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr)
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
