"""Replication settings: min.insync.replicas can never exceed the replicas."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.settings import Settings


def test_more_in_sync_replicas_than_replicas_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(topic_replication=2, topic_min_insync_replicas=3)
    message = str(error.value)
    assert "SEGSTREAM_TOPIC_MIN_INSYNC_REPLICAS=3" in message
    assert "SEGSTREAM_TOPIC_REPLICATION=2" in message


def test_three_replicas_two_in_sync_is_accepted() -> None:
    settings = Settings(topic_replication=3, topic_min_insync_replicas=2)
    assert (settings.topic_replication, settings.topic_min_insync_replicas) == (3, 2)


def test_the_defaults_suit_one_broker() -> None:
    assert (Settings().topic_replication, Settings().topic_min_insync_replicas) == (1, 1)
