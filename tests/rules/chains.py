"""Rule files whose segments chain through in_segment(), for the loader's graph walks."""

from __future__ import annotations


def chain_file(length: int, head_first: bool = True) -> str:
    """``length`` segments, s0 referring to s1, s1 to s2, ...: ``length - 1`` references deep.

    Ids are zero-padded so sorting them puts the head of the chain first (or, reversed, last):
    the walks visit ids sorted, so both orders reach the full depth from one end.
    """
    width = len(str(length))
    ids = [
        f"s{n:0{width}d}" if head_first else f"s{length - 1 - n:0{width}d}" for n in range(length)
    ]
    lines = ["segments:"]
    for n, segment_id in enumerate(ids):
        condition = f"in_segment('{ids[n + 1]}')" if n + 1 < length else "age > 1"
        lines.append(f'  - {{id: {segment_id}, name: N, description: d, condition: "{condition}"}}')
    return "\n".join(lines) + "\n"
