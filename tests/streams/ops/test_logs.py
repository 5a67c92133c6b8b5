"""JSON logs: one object per line, exceptions included; the Faust worker's config; and one line per
cause and interval from a cause that keeps repeating."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from mode.utils.logging import setup_logging

from streams.ops.logs import (
    REPEAT_INTERVAL_S,
    JsonFormatter,
    RepeatFilter,
    flush_repeats,
    worker_logging_config,
)


def test_a_record_becomes_one_json_object() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "streams.app", logging.WARNING, __file__, 1, "dead letter %s@%d", ("t:0", 7),
            sys.exc_info(),
        )  # fmt: skip
    record.customer_id = "c42"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "streams.app"
    assert entry["message"] == "dead letter t:0@7"
    assert entry["customer_id"] == "c42"
    assert "ValueError: boom" in entry["exception"]
    assert entry["ts"].endswith("+00:00")


def test_json_replaces_fausts_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(loglevel="INFO", logging_config=worker_logging_config("json", "INFO"))
        logging.getLogger("segstream.test").info("hello %s", "world")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert [json.loads(line)["message"] for line in lines] == ["hello world"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    message: str = "Unable connect to node with id %s: %s",
    args: tuple[object, ...] = (1, "refused"),
    name: str = "aiokafka.conn",
    level: int = logging.ERROR,
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_a_cause_logs_its_first_line_then_one_line_per_interval_saying_how_many_were_dropped() -> (
    None
):
    clock = Clock()
    limiter = RepeatFilter(clock=clock)
    assert limiter.filter(record()) is True
    clock.now += 1
    assert [limiter.filter(record(args=(n, "refused"))) for n in range(1233)] == [False] * 1233
    clock.now += REPEAT_INTERVAL_S
    summary = record(args=(2, "refused"))
    assert limiter.filter(summary) is True
    assert summary.getMessage() == (
        "Unable connect to node with id 2: refused [repeated 1,233 times in the last 31 s]"
    )
    assert summary.__dict__["repeated"] == 1233
    assert limiter.filter(record()) is False  # a new interval began with the summary


def test_causes_are_told_apart_by_logger_and_template() -> None:
    limiter = RepeatFilter(clock=Clock())
    assert limiter.filter(record()) is True
    assert limiter.filter(record(message="Unable to update metadata from %s")) is True
    assert limiter.filter(record(name="aiokafka.consumer.fetcher")) is True
    assert limiter.filter(record()) is False


def test_info_lines_and_other_libraries_are_never_held_back() -> None:
    limiter = RepeatFilter(clock=Clock())
    progress = "events=%d (%.0f/s)"
    assert all(limiter.filter(record(progress, (n, 0.0), "streams.app", logging.INFO))
               for n in range(3))  # fmt: skip
    assert all(limiter.filter(record(name="urllib3.connectionpool")) for _ in range(3))
    for name in ("aiokafka.conn", "kafka.conn", "faust.transport", "mode.services", "streams.app"):
        assert limiter.filter(record(name=name)) is True
        assert limiter.filter(record(name=name)) is False


def test_a_cause_that_went_quiet_is_summed_up_once_its_interval_is_over() -> None:
    clock = Clock()
    limiter = RepeatFilter(clock=clock)
    limiter.filter(record())
    limiter.filter(record(args=(1, "first")))
    limiter.filter(record(args=(1, "last")))
    assert limiter.take_summaries() == []  # its interval is still running
    clock.now += REPEAT_INTERVAL_S
    [summary] = limiter.take_summaries()
    assert (summary.dropped, summary.seconds) == (2, REPEAT_INTERVAL_S)
    assert summary.last.getMessage() == "Unable connect to node with id 1: last"
    assert limiter.take_summaries() == []
    assert limiter.filter(record()) is True  # forgotten: its next line is a first one again


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_flushed_summaries_reach_the_handler_past_its_filter() -> None:
    clock = Clock()
    handler = Collect()
    handler.addFilter(RepeatFilter(clock=clock))
    logger = logging.getLogger("streams.test_repeats")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for _ in range(5):
            logger.warning("could not read consumer lag: %r", OSError("refused"))
        clock.now += REPEAT_INTERVAL_S
        flush_repeats()
    finally:
        logger.removeHandler(handler)
    assert [line.getMessage() for line in handler.records] == [
        "could not read consumer lag: OSError('refused')",
        "could not read consumer lag: OSError('refused') [repeated 4 times in the last 30 s]",
    ]


def test_the_workers_handler_holds_repeats_back_in_text_and_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for log_format in ("text", "json"):
            setup_logging(loglevel="INFO", logging_config=worker_logging_config(log_format, "INFO"))
            for node in range(100):
                logging.getLogger("aiokafka.conn").error("Unable connect to node %s", node)
            logging.getLogger("streams.app").info("events=%d", 5)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    captured = capsys.readouterr()
    text = [line for line in captured.err.splitlines() if line]
    assert len(text) == 2
    assert "[ERROR]" in text[0]  # Faust's format
    assert "Unable connect to node 0" in text[0]
    entries = [json.loads(line) for line in captured.out.splitlines() if line]
    assert [entry["message"] for entry in entries] == ["Unable connect to node 0", "events=5"]
