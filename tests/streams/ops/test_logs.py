"""JSON logs: one object per line, exceptions included, and the Faust worker's config."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from mode.utils.logging import setup_logging

from streams.ops.logs import JsonFormatter, worker_logging_config


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


def test_text_keeps_faust_format_and_json_replaces_its_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert worker_logging_config("text", "INFO") is None
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
