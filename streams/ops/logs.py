"""Log format: readable text, or one JSON object per line (SEGSTREAM_LOG_FORMAT=json) for shippers;
and at most one line per cause and interval while something keeps failing.

Log lines carry ids (customer, topic, partition, offset), never event payloads.

**Repeats.** While Kafka is down, aiokafka logs every failed connect, fetch and metadata update:
about 230 ERROR lines per second from one idle worker (measured), which buries the line that says
what happened and fills disks. :class:`RepeatFilter` lets the first WARNING-or-worse line of each
cause (logger and message template) through, drops the rest of that cause for
``REPEAT_INTERVAL_S``, and then says how many it dropped ("… [repeated 1,234 times in the last
30 s]"): on the cause's next line, or, when the cause went quiet, on the worker's next ops poll
(:func:`flush_repeats`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.settings import Settings

REPEAT_INTERVAL_S = 30.0
# The worker's loggers and its libraries'; INFO lines (progress, start-up) are never held back.
LIMITED_LOGGERS = ("aiokafka", "faust", "kafka", "mode", "streams", "models", "rules")
LIMITED_LEVEL = logging.WARNING
# Messages built without a template (f-strings) make a cause each; past this many causes in one
# interval, new ones pass unlimited rather than grow the table without bound.
MAX_CAUSES = 1000
REPEATED = "repeated"  # the record attribute (a JSON field) of a summary: lines dropped
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


def worker_logging_config(log_format: str, log_level: str) -> dict[str, Any]:
    """A logging dictConfig for the Faust worker, merged over mode's: its handler ("default")
    gets the :class:`RepeatFilter`; text keeps Faust's own format, JSON replaces it."""
    handler: dict[str, Any] = {
        # mode's own handler, as it configures it itself for a stream (mode.utils.logging)
        "class": "colorlog.StreamHandler",
        "formatter": "colored",
        "level": log_level,
        "filters": ["repeats"],
    }
    formatters = {}
    if log_format == "json":
        handler |= {"class": "logging.StreamHandler", "formatter": "json"}
        handler["stream"] = "ext://sys.stdout"
        formatters = {"json": {"()": f"{__name__}.JsonFormatter"}}
    return {
        "version": 1,
        "merge": True,  # mode merges it over its defaults: our handler replaces its "default"
        "formatters": formatters,
        "filters": {"repeats": {"()": f"{__name__}.RepeatFilter"}},
        "handlers": {"default": handler},
    }


def configure_logging(settings: Settings) -> None:
    """Logging for the time before Faust takes over (dependency checks, topic creation)."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    handler.addFilter(RepeatFilter())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


@dataclass(slots=True)
class _Cause:
    since: float  # the start of its interval: when its last line went through
    dropped: int = 0
    last: logging.LogRecord | None = None  # the last line dropped, for a summary of its own


class RepeatFilter(logging.Filter):
    """Per cause (logger, message template): the first line, then one line per interval that
    says how many were dropped since the last. Safe to share between threads."""

    def __init__(
        self,
        interval_s: float = REPEAT_INTERVAL_S,
        *,
        loggers: tuple[str, ...] = LIMITED_LOGGERS,
        level: int = LIMITED_LEVEL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._prefixes = loggers
        self._level = level
        self._clock = clock
        self._causes: dict[tuple[str, str], _Cause] = {}
        self._lock = threading.Lock()
        _FILTERS.add(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record):
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        with self._lock:
            cause = self._causes.get(key)
            if cause is not None and now - cause.since < self.interval_s:
                cause.dropped += 1
                cause.last = record
                return False
            if cause is None and len(self._causes) >= MAX_CAUSES:
                return True
            self._causes[key] = _Cause(now)
        if cause is not None and cause.dropped:
            _mark_repeated(record, cause.dropped, now - cause.since)
        return True

    def _limited(self, record: logging.LogRecord) -> bool:
        return (
            record.levelno >= self._level
            and not hasattr(record, REPEATED)
            and record.name.split(".", 1)[0] in self._prefixes
        )

    def take_summaries(self) -> list[Summary]:
        """What was dropped of each cause whose interval is over; those causes are forgotten, so
        their next line goes through at once."""
        now = self._clock()
        summaries = []
        with self._lock:
            for key, cause in list(self._causes.items()):
                if now - cause.since < self.interval_s:
                    continue
                del self._causes[key]
                if cause.last is not None:
                    summaries.append(Summary(cause.last, cause.dropped, now - cause.since))
        return summaries


@dataclass(frozen=True, slots=True)
class Summary:
    last: logging.LogRecord  # the last line dropped
    dropped: int
    seconds: float

    def log(self) -> None:
        last = self.last
        logging.getLogger(last.name).log(
            last.levelno, "%s%s", last.getMessage(), _repeated_text(self.dropped, self.seconds),
            extra={REPEATED: self.dropped},
        )  # fmt: skip


_FILTERS: weakref.WeakSet[RepeatFilter] = weakref.WeakSet()


def _repeated_text(dropped: int, seconds: float) -> str:
    return f" [repeated {dropped:,} times in the last {seconds:.0f} s]"


def _mark_repeated(record: logging.LogRecord, dropped: int, seconds: float) -> None:
    # Appended to the template, which the record's own arguments still fill; the text holds no %.
    record.msg = f"{record.msg}{_repeated_text(dropped, seconds)}"
    setattr(record, REPEATED, dropped)


def flush_repeats() -> None:
    """Log what was dropped of the causes that went quiet (called on every ops poll)."""
    for repeat_filter in list(_FILTERS):
        for summary in repeat_filter.take_summaries():
            summary.log()
