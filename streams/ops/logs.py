"""Log format: readable text, or one JSON object per line (SEGSTREAM_LOG_FORMAT=json) for shippers.

Log lines carry ids (customer, topic, partition, offset), never event payloads.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from streams.settings import Settings

# LogRecord attributes that are not "extra" fields passed by the caller.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def worker_logging_config(log_format: str, log_level: str) -> dict[str, Any] | None:
    """A logging dictConfig for the Faust worker; None keeps Faust's own text format."""
    if log_format == "text":
        return None
    return {
        "version": 1,
        "merge": True,  # mode merges it over its defaults: our handler replaces its "default"
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
                "level": log_level,
            }
        },
    }


def configure_logging(settings: Settings) -> None:
    """Logging for the time before Faust takes over (dependency checks, topic creation)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
