"""The worker's Faust consumer fetches in fewer, fuller requests (streams.faust_fetch)."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import aiokafka
import pytest
from pydantic import ValidationError

from streams.app import Segstream
from streams.faust_fetch import AGENT_FETCH_MIN_BYTES, AGENT_FETCH_WAIT_MS, FetchTunedApp
from streams.ingest.rebatcher import FETCH_MIN_BYTES, consumer_options
from streams.settings import Settings


def _worker_consumer(app: FetchTunedApp) -> aiokafka.AIOKafkaConsumer:
    async def build() -> aiokafka.AIOKafkaConsumer:  # aiokafka wants a running loop
        thread: Any = getattr(app.consumer, "_thread")  # noqa: B009 (Faust's type hides it)
        consumer: aiokafka.AIOKafkaConsumer = thread._create_worker_consumer(app.transport)
        return consumer

    return asyncio.run(build())


def test_the_worker_s_faust_consumer_waits_for_fuller_fetches() -> None:
    app = FetchTunedApp("fetch-test", broker="kafka://127.0.0.1:9")
    consumer = _worker_consumer(app)
    assert consumer._fetch_min_bytes == AGENT_FETCH_MIN_BYTES
    assert consumer._fetch_max_wait_ms == AGENT_FETCH_WAIT_MS


def test_the_worker_builds_its_faust_app_so(tmp_path: Path) -> None:
    worker = Segstream(Settings(app_id="fetch-test", data_dir=tmp_path))
    assert isinstance(worker.app, FetchTunedApp)


def test_aiokafka_hands_those_attributes_to_its_fetcher_when_it_starts() -> None:
    """The values are set after Faust built the consumer: this fails if aiokafka stops reading
    them from there."""
    source = inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    assert "fetch_min_bytes=self._fetch_min_bytes" in source
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in source


def test_the_rebatcher_waits_for_fuller_fetches_too() -> None:
    options = consumer_options(Settings(app_id="shop"))
    assert (options["fetch_min_bytes"], options["fetch_max_wait_ms"]) == (FETCH_MIN_BYTES, 10)


def test_how_long_the_rebatcher_waits_for_a_fuller_fetch_is_a_setting() -> None:
    """Latency against CPU while events trickle in (see streams.ingest.rebatcher)."""
    settings = Settings(app_id="shop", ingest_fetch_wait_ms=40)
    assert consumer_options(settings)["fetch_max_wait_ms"] == 40


@pytest.mark.parametrize("wait_ms", [0, -5, 501, "10ms"])
def test_a_fetch_wait_out_of_range_is_refused_naming_the_setting(wait_ms: object) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(ingest_fetch_wait_ms=wait_ms)
    assert "ingest_fetch_wait_ms" in str(error.value)
