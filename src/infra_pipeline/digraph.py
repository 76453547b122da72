"""Directed graphs: every cycle as a strongly connected component, and a stable topological
order. Shared by the config's validation of `depends_on`, the apply scheduler
(`core/layer_graph.py`) and `infra init`, so that all three name a cycle the same way."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


def strongly_connected(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every cycle of the graph as its strongly connected component, each sorted; a node
    that depends on itself is a cycle too."""
    return sorted(
        sorted(nodes)
        for nodes in components(deps)
        if len(nodes) > 1 or nodes[0] in set(deps[nodes[0]])
    )


def components(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """All strongly connected components, single nodes included, dependencies first (Tarjan,
    iterative: a repository may hold thousands of units). Edges to unknown nodes are
    ignored."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    edges = {node: sorted(d for d in targets if d in deps) for node, targets in deps.items()}
    for root in sorted(deps):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def topological(deps: Mapping[str, Iterable[str]], key: Callable[[str], Any]) -> list[str]:
    """Every node after all the nodes it depends on; among those free to go, the smallest
    `key` first. Raises ValueError naming the cycles when there is no such order."""
    cycles = strongly_connected(deps)
    if cycles:
        raise ValueError(describe_cycles(cycles))
    waiting = {node: {d for d in targets if d in deps} for node, targets in deps.items()}
    users: dict[str, list[str]] = {node: [] for node in deps}
    for node, pending in waiting.items():
        for dep in pending:
            users[dep].append(node)
    free = [(key(n), n) for n, pending in waiting.items() if not pending]
    heapq.heapify(free)
    ordered: list[str] = []
    while free:
        _, node = heapq.heappop(free)
        ordered.append(node)
        for user in users[node]:
            waiting[user].discard(node)
            if not waiting[user]:
                heapq.heappush(free, (key(user), user))
    return ordered


def describe_cycles(cycles: Sequence[Sequence[str]]) -> str:
    """`a → b → a`-style text for each cycle (members in name order)."""
    parts = [" → ".join([*cycle, cycle[0]]) for cycle in cycles]
    noun = "a dependency cycle" if len(parts) == 1 else f"{len(parts)} dependency cycles"
    return f"{noun}: " + "; ".join(parts)
