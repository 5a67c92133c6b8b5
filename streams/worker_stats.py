"""A worker's counters since it started: its log line, `/segstream/stats` and metrics read them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class WorkerStats:
    """Counters since start; the periodic log line and (later) metrics read them."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    changes_published: int = 0
    reevaluated: dict[str, int] = field(default_factory=dict)  # by reason: elapsed | rule_change
    batches: int = 0
    envelopes_replayed: int = 0  # redelivered after a crash or rebalance, skipped
    envelopes_read_back: int = 0  # never delivered by Faust, read from Kafka
    envelopes_applied_locally: int = 0  # applied by the rebatcher, skipped by the agent
    own_envelopes_left_to_rebatcher: int = 0  # of those: sent by this worker, left to the next pass
    envelopes_read_for_rebatcher: int = 0  # other workers', read to apply before the rebatcher's
    # made by the rebatcher for a partition the agent did not own (or had not recovered) then:
    # another worker's agent applies them; 0 while the assignment holds still
    envelopes_made_for_unowned_partitions: int = 0
    # Resyncs (streams.schedule.resync) by partition, and the customers they published again.
    resyncs_started: dict[int, int] = field(default_factory=dict)
    resyncs_completed: dict[int, int] = field(default_factory=dict)
    resync_customers_rewritten: int = 0
    logged_received: int = 0
    logged_at: float = field(default_factory=time.monotonic)
