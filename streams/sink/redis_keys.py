"""The Redis key layout, version 1: a public contract that front ends in any language read.

    {prefix}:customer:{customer_id}       HASH  segment id -> JSON
                                                {"since", "variant", "rules_version"}
    {prefix}:segment:{segment_id}:members SET   customer ids (SCARD gives the size)
    {prefix}:meta                         HASH  rules_version, updated_at

``prefix`` defaults to ``segstream:v1``; the version in it changes whenever this layout does.
One ``HGETALL {prefix}:customer:{id}`` is all a front end needs to personalize a page.
"""

from __future__ import annotations


def customer_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}:customer:{customer_id}"


def members_key(prefix: str, segment_id: str) -> str:
    return f"{prefix}:segment:{segment_id}:members"


def meta_key(prefix: str) -> str:
    return f"{prefix}:meta"


def rollout_key(prefix: str) -> str:
    """Hash: partition -> JSON progress of its latest scan (rules version, counts, done)."""
    return f"{prefix}:rollout"
