"""The Redis key layout, version 1: a public contract that front ends in any language read.

    {prefix}:customer:{id}                     HASH  segment id -> JSON membership, plus reserved
                                                     fields starting with "_" (version, alias...)
    {prefix}:customer:{id}:history             HASH  which segments/variants the customer ever
                                                     reached and bought in (exact metrics)
    {prefix}:segment:{segment_id}:members      SET   customer ids (SCARD gives the size)
    {prefix}:segment:{segment_id}:metrics:{v}  HASH  members, reached, purchasers, orders,
                                                     revenue_cents of variant v
    {prefix}:segments                          SET   every segment id that ever had a member
    {prefix}:changes                           STREAM  every entry and exit (length-bounded)
    {prefix}:meta                              HASH  rules_version, model_version, updated_at
    {prefix}:partition:{p}:epoch               STRING  a worker's resync marker (not for readers)

``prefix`` defaults to ``segstream:v1``; the version in it changes whenever this layout does.
docs/redis-contract.md is the reference; the Lua scripts in ``streams/sink/lua`` and
``streams/client`` build the same names from the prefix.
"""

from __future__ import annotations

RESERVED = "_"  # hash fields starting with this are metadata; segment ids start with [a-z]
VERSION_FIELD = "_version"
UPDATED_FIELD = "_updated_at"
ALIAS_FIELD = "_alias_of"
VARIANTS = ("treatment", "control")


def customer_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}:customer:{customer_id}"


def history_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}:customer:{customer_id}:history"


def members_key(prefix: str, segment_id: str) -> str:
    return f"{prefix}:segment:{segment_id}:members"


def metrics_key(prefix: str, segment_id: str, variant: str) -> str:
    return f"{prefix}:segment:{segment_id}:metrics:{variant}"


def segments_key(prefix: str) -> str:
    return f"{prefix}:segments"


def changes_key(prefix: str) -> str:
    return f"{prefix}:changes"


def meta_key(prefix: str) -> str:
    return f"{prefix}:meta"


def rollout_key(prefix: str) -> str:
    """Hash: partition -> JSON progress of its latest scan (rules version, counts, done); and
    ``reader:{host}:{web port}`` -> each worker's receipt (streams.rollout.receipts)."""
    return f"{prefix}:rollout"


def partition_epoch_key(prefix: str, partition: int) -> str:
    """String: JSON marker that partition ``partition``'s customers are all in Redis (written by
    workers, read by them and `segstream resync`; see streams.schedule.resync)."""
    return f"{prefix}:partition:{partition}:epoch"
