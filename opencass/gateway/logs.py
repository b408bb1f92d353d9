"""structlog configured for JSON lines on standard output (journald picks them up)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

import structlog


def configure(level: str = "info", stream: object = None) -> None:
    """One JSON object per line, with timestamp, level, logger and bound context."""
    handler = logging.StreamHandler(stream or sys.stdout)  # type: ignore[arg-type]
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]  # libraries' log records as JSON lines too
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("asyncssh", "apscheduler"):  # per-connection / per-job chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)
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


class _JsonFormatter(logging.Formatter):
    """A standard-library log record as one JSON line shaped like structlog's."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "event": record.getMessage(),
            "logger": record.name,
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)
