"""Each simulator run mints ids no earlier run used, for the same customers."""

from __future__ import annotations

from itertools import islice

from streams.traffic.generator import live
from streams.traffic.producer import run_shoppers

START = 1_790_000_000.0


def minted_ids(customers: int, seed: int) -> tuple[list[str], set[str]]:
    """A run's customer ids, and every event, session and order id of its first 3,000 events."""
    _, shoppers = run_shoppers(customers, seed=seed)
    ids: set[str] = set()
    for event in islice(live(shoppers, seed=seed, now=START), 3_000):
        payload = event.payload
        ids |= {str(payload[k]) for k in ("event_id", "session_id", "order_id") if k in payload}
    return [s.customer_id for s in shoppers], ids


def test_a_second_run_repeats_no_id_of_the_first() -> None:
    # Workers drop an event whose id a profile has seen: a rerun of the demo must not look like
    # a replay of the run before.
    customers, first = minted_ids(50, seed=7)
    same_customers, second = minted_ids(50, seed=7)
    assert customers == same_customers
    assert first.isdisjoint(second)
