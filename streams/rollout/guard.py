"""Refusing a rules version that would take customers out of segments, unless that is the intent.

A version without segments withdraws every segment from every customer, and one that drops a
segment takes all its members out: `rules check`, `publish` and `watch` refuse both, naming how
many customers would leave each segment, unless given --allow-empty / --allow-removal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from models.names import CLUSTER_PREFIX
from rules.ruleset import RuleSet
from streams.sink.aggregates import read_metrics, sizes_of


@dataclass(frozen=True, slots=True)
class Leaving:
    segment_id: str
    members: int  # customers in the segment now, who would leave it


def leaving(edited: RuleSet, sizes: Mapping[str, int]) -> list[Leaving]:
    """Segments with members now (``sizes``) that ``edited`` does not define, largest first.

    Clusters are the trainer's segments, not the rules': they are not counted.

    >>> from rules.loader import load_rule_texts
    >>> edited = load_rule_texts({"r.yaml": "segments: [{id: a, name: A, description: d, "
    ...                                     "condition: 'age > 1'}]"})
    >>> leaving(edited, {"a": 5, "b": 3, "c": 0, "cluster_x": 9, "d": 7})
    [Leaving(segment_id='d', members=7), Leaving(segment_id='b', members=3)]
    """
    kept = {rule.id for rule in edited.rules}
    gone = [
        Leaving(segment_id, count)
        for segment_id, count in sizes.items()
        if count > 0 and segment_id not in kept and not segment_id.startswith(CLUSTER_PREFIX)
    ]
    return sorted(gone, key=lambda item: (-item.members, item.segment_id))


def refusal(
    edited: RuleSet, gone: list[Leaving], *, allow_empty: bool, allow_removal: bool
) -> str | None:
    """Why ``edited`` must not be published as asked (None: it may), with who would leave.

    >>> from rules.ruleset import RuleSet
    >>> print(refusal(RuleSet("v", ()), [Leaving("big", 1200)], allow_empty=False,
    ...               allow_removal=True))
    the edited rules have no segments: every segment would be withdrawn from every customer
      big                              1,200 customers would leave
    give --allow-empty to publish it anyway
    """
    if not edited.rules and not allow_empty:
        head = "the edited rules have no segments: every segment would be withdrawn from every"
        return "\n".join(
            [f"{head} customer", *_lines(gone), "give --allow-empty to publish it anyway"]
        )
    if gone and edited.rules and not allow_removal:
        head = f"the edited rules remove {len(gone)} segment(s) that have members"
        return "\n".join([head, *_lines(gone), "give --allow-removal to publish it anyway"])
    return None


def _lines(gone: list[Leaving]) -> list[str]:
    return [f"  {item.segment_id:<30} {item.members:>7,} customers would leave" for item in gone]


def segment_sizes(
    client: redis.Redis, prefix: str, partitions: int, except_ids: Iterable[str] = ()
) -> dict[str, int]:
    """Members now of every segment that ever had one, but ``except_ids``."""
    skip = set(except_ids)
    sizes = sizes_of(read_metrics(client, prefix, partitions))
    return {segment: size for segment, size in sorted(sizes.items()) if segment not in skip}
