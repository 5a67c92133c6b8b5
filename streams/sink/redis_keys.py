"""The Redis key layout, version 2: a public contract that front ends in any language read.

Every key carries a Redis Cluster hash tag, so that each write script touches one slot only:

    {prefix}:customer:{ID}                    HASH  segment id -> JSON membership, plus reserved
                                                    fields starting with "_" (version, alias...)
    {prefix}:{pN}:ledger:{id}                 HASH  what partition N's aggregates counted for the
                                                    customer: its segments and variants, and which
                                                    it ever reached and bought in (not for readers)
    {prefix}:{pN}:segment:{segment}:members   SET   partition N's customers in the segment
    {prefix}:{pN}:metrics                     HASH  "{segment}:{variant}:{counter}" -> count, for
                                                    partition N's customers
    {prefix}:{pN}:changes                     STREAM  partition N's entries and exits
    {prefix}:{pN}:meta                        HASH  rules_version, model_version, updated_at
    {prefix}:{pN}:epoch                       STRING  partition N's resync marker (not for readers)
    {prefix}:layout                           HASH  version, partitions: how many N there are
    {prefix}:rollout                          HASH  rules roll-out bookkeeping (not for readers)

N is the Kafka partition of the customer's events. Aggregates are per partition, and readers sum
them (streams.sink.aggregates): no key is written by every change of the fleet, and a partition's
aggregates and ledgers, sharing a slot, are always consistent with each other.

``prefix`` defaults to ``segstream:v2``; the version in it changes whenever this layout does.
docs/redis-contract.md is the reference; the Lua scripts in ``streams/sink`` get every key they
touch in ``KEYS``.
"""

from __future__ import annotations

LAYOUT_VERSION = 2
RESERVED = "_"  # hash fields starting with this are metadata; segment ids start with [a-z]
VERSION_FIELD = "_version"
UPDATED_FIELD = "_updated_at"
ALIAS_FIELD = "_alias_of"
VARIANTS = ("treatment", "control")
METRIC_FIELDS = ("members", "reached", "purchasers", "orders", "revenue_cents")


def customer_key(prefix: str, customer_id: str) -> str:
    """The customer's hash; the id is the hash tag, so customers spread over every shard."""
    return f"{prefix}:customer:{{{customer_id}}}"


def _partition(prefix: str, partition: int) -> str:
    return f"{prefix}:{{p{partition}}}"


def ledger_key(prefix: str, partition: int, customer_id: str) -> str:
    return f"{_partition(prefix, partition)}:ledger:{customer_id}"


def members_key(prefix: str, partition: int, segment_id: str) -> str:
    return f"{_partition(prefix, partition)}:segment:{segment_id}:members"


def metrics_key(prefix: str, partition: int) -> str:
    return f"{_partition(prefix, partition)}:metrics"


def metric_field(segment_id: str, variant: str, counter: str) -> str:
    return f"{segment_id}:{variant}:{counter}"


def changes_key(prefix: str, partition: int) -> str:
    return f"{_partition(prefix, partition)}:changes"


def meta_key(prefix: str, partition: int) -> str:
    return f"{_partition(prefix, partition)}:meta"


def partition_epoch_key(prefix: str, partition: int) -> str:
    """String: JSON marker that partition ``partition``'s customers are all in Redis (written by
    workers, read by them and `segstream resync`; see streams.schedule.resync)."""
    return f"{_partition(prefix, partition)}:epoch"


def layout_key(prefix: str) -> str:
    """Hash: ``version`` and ``partitions``, what readers need to sum the aggregates."""
    return f"{prefix}:layout"


def rollout_key(prefix: str) -> str:
    """Hash: partition -> JSON progress of its latest scan (rules version, counts, done); and
    ``reader:{host}:{web port}`` -> each worker's receipt (streams.rollout.receipts)."""
    return f"{prefix}:rollout"
