"""Reading the per-partition aggregates of key layout v2 as one: segment sizes, metrics, members.

Workers count each customer into its Kafka partition's keys (streams.sink.redis_keys), so that
no key takes every change of the fleet and, with Redis Cluster, each partition's keys share a
slot. Readers sum over the partitions that ``{prefix}:layout`` announces. Each partition is read
with its own command (never one command over several partitions' keys, which Redis Cluster
refuses), all in one pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

from streams.redis_connection import reply_text
from streams.sink.redis_keys import layout_key, members_key, meta_key, metrics_key

# segment -> variant -> counter -> value
Metrics = dict[str, dict[str, dict[str, int]]]


def partitions_from_layout(raw: Mapping[Any, Any], default: int) -> int:
    """The partition count that ``{prefix}:layout`` announces, or ``default`` before any worker
    wrote it.

    >>> partitions_from_layout({b"version": b"2", b"partitions": b"8"}, 1)
    8
    >>> partitions_from_layout({}, 4)
    4
    """
    fields = {reply_text(k): reply_text(v) for k, v in raw.items()}
    value = fields.get("partitions", "")
    return int(value) if value.isdigit() and int(value) > 0 else default


def fold_metrics(hashes: Iterable[Mapping[Any, Any]]) -> Metrics:
    """The partitions' metrics hashes (``{segment}:{variant}:{counter}`` -> n) summed.

    >>> fold_metrics([{b"vip:treatment:members": b"2"}, {"vip:treatment:members": "3"}])
    {'vip': {'treatment': {'members': 5}}}
    """
    total: Metrics = {}
    for fields in hashes:
        for name, value in fields.items():
            segment, _, rest = reply_text(name).partition(":")
            variant, _, counter = rest.partition(":")
            counters = total.setdefault(segment, {}).setdefault(variant, {})
            counters[counter] = counters.get(counter, 0) + int(value)
    return total


def sizes_of(metrics: Metrics) -> dict[str, int]:
    """Members now per segment, both variants together.

    >>> sizes_of({"vip": {"treatment": {"members": 5}, "control": {"members": 1}}})
    {'vip': 6}
    """
    return {
        segment: sum(counters.get("members", 0) for counters in variants.values())
        for segment, variants in metrics.items()
    }


def read_partitions(client: redis.Redis, prefix: str, default: int) -> int:
    """How many partitions to sum: as announced, or ``default`` (the reader's own setting)."""
    raw: Mapping[Any, Any] = client.hgetall(layout_key(prefix))
    return partitions_from_layout(raw, default)


def read_metrics(client: redis.Redis, prefix: str, partitions: int) -> Metrics:
    pipe = client.pipeline(transaction=False)
    for partition in range(partitions):
        pipe.hgetall(metrics_key(prefix, partition))
    return fold_metrics(pipe.execute())


async def read_metrics_async(client: aioredis.Redis, prefix: str, partitions: int) -> Metrics:
    pipe = client.pipeline(transaction=False)
    for partition in range(partitions):
        pipe.hgetall(metrics_key(prefix, partition))
    return fold_metrics(await pipe.execute())


def get_each(client: redis.Redis, keys: Sequence[str]) -> list[bytes | None]:
    """GET of each key, pipelined (not MGET: with Redis Cluster the keys are in different slots)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return list(pipe.execute())


def read_members(client: redis.Redis, prefix: str, partitions: int, segment: str) -> set[str]:
    """Every member of ``segment`` (SSCAN of each partition's set: no long blocking call)."""
    return {
        reply_text(member)
        for partition in range(partitions)
        for member in client.sscan_iter(members_key(prefix, partition, segment), count=1000)
    }


def read_meta(client: redis.Redis, prefix: str, partitions: int) -> dict[str, str]:
    """The meta hash of the partition written last: the versions of the newest batch."""
    pipe = client.pipeline(transaction=False)
    for partition in range(partitions):
        pipe.hgetall(meta_key(prefix, partition))
    metas = [{reply_text(k): reply_text(v) for k, v in raw.items()} for raw in pipe.execute()]
    return max(metas, key=lambda meta: float(meta.get("updated_at") or 0), default={})
