"""Walks of the graph segments form through in_segment(): cycles, depth, evaluation order.

Every walk keeps its own stack instead of recursing: a rules message can chain thousands of
segments, and a RecursionError there would stop every worker replaying the rules topic. Depth is
limited too (MAX_DEPTH), so no rule set makes one segment wait on an arbitrarily long chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence, Set

MAX_DEPTH = 32  # in_segment() references in a row: a refers to b, which refers to c, ...

Graph = Mapping[str, Set[str]]  # segment id -> the segment ids its condition refers to


def find_cycle(graph: Graph) -> list[str]:
    """The ids of one cycle in order (the first found visiting ids sorted), or [] if none."""
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        path, on_path = [root], {root}
        pending: list[Iterator[str]] = [_successors(graph, root)]
        while pending:
            successor = next(pending[-1], None)
            if successor is None:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                pending.pop()
            elif successor in on_path:
                return path[path.index(successor) :]
            elif successor not in done:
                path.append(successor)
                on_path.add(successor)
                pending.append(_successors(graph, successor))
    return []


def too_deep(graph: Graph) -> list[list[str]]:
    """Chains of MAX_DEPTH + 1 references, one per segment where a chain first gets too long.

    A segment deeper still refers, directly or not, to one of these, so fixing them fixes it.
    Edges that close a cycle are ignored here (cycles are reported on their own).
    """
    depth, next_hop = _longest_chains(graph)
    chains = []
    for start in sorted(graph):
        if depth[start] == MAX_DEPTH + 1:
            chain = [start]
            while chain[-1] in next_hop:
                chain.append(next_hop[chain[-1]])
            chains.append(chain)
    return chains


def dependency_order(roots: Sequence[str], graph: Graph) -> list[str]:
    """Every id of ``roots`` in that order, each after the segments it refers to (sorted)."""
    ordered: list[str] = []
    entered: set[str] = set()
    for root in roots:
        if root in entered:
            continue
        entered.add(root)
        path, pending = [root], [_successors(graph, root)]
        while pending:
            successor = next(pending[-1], None)
            if successor is None:
                ordered.append(path.pop())
                pending.pop()
            elif successor not in entered and successor in graph:
                entered.add(successor)
                path.append(successor)
                pending.append(_successors(graph, successor))
    return ordered


def _longest_chains(graph: Graph) -> tuple[dict[str, int], dict[str, str]]:
    """Per id: the most references in a row from it, and the first hop of such a chain."""
    depth: dict[str, int] = {}
    next_hop: dict[str, str] = {}
    on_path: set[str] = set()
    for root in sorted(graph):
        if root in depth:
            continue
        path, pending = [root], [_successors(graph, root)]
        on_path.add(root)
        while pending:
            successor = next(pending[-1], None)
            if successor is None:
                node = path.pop()
                pending.pop()
                on_path.discard(node)
                depth[node] = _settle(graph, node, depth, next_hop)
            elif successor not in depth and successor not in on_path:
                path.append(successor)
                on_path.add(successor)
                pending.append(_successors(graph, successor))
    return depth, next_hop


def _settle(graph: Graph, node: str, depth: dict[str, int], next_hop: dict[str, str]) -> int:
    # A successor not settled yet is on the walk's path: an edge closing a cycle, left out.
    successors = sorted(graph.get(node, ()))
    known = [(depth[successor], successor) for successor in successors if successor in depth]
    if not known:
        return 0
    deepest, hop = max(known, key=lambda pair: pair[0])  # ties: the first id sorted
    next_hop[node] = hop
    return deepest + 1


def _successors(graph: Graph, node: str) -> Iterator[str]:
    return iter(sorted(graph.get(node, ())))
