"""Running one stream worker: check dependencies, create topics, hand over to Faust."""

from __future__ import annotations

import logging

import faust

from streams.app import Segstream
from streams.dependencies import ensure_topics, wait_for_redis
from streams.settings import Settings


def run_worker(settings: Settings) -> None:
    """Block running a worker until it is stopped (SIGINT/SIGTERM)."""
    logging.basicConfig(level=settings.log_level)
    wait_for_redis(settings)
    ensure_topics(settings)
    segstream = Segstream(settings)
    worker = faust.Worker(segstream.app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.execute_from_commandline()
