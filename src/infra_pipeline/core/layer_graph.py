"""The layers' dependency graph, and the pure scheduler that plans and applies layers along it.

Besides its edges the graph holds the pairs of layers that must never run at the same time
(`apart`, from `unit_reads.apart`: one copies a tree the other writes in); the scheduler
starts neither while the other runs, whichever comes first.

Edges come from `depends_on` in infra.yaml and from Terragrunt `dependency`/`dependencies`
blocks (read by the caller); `order` breaks ties. A config that declares no edge at all keeps
the seed's meaning of `order`: each layer depends on the one before it, so a bigger
`apply_parallelism` or `on_failure: skip_dependents` never runs a layer that an older config
meant to come after another.

The scheduler holds no threads and reads no clock: the caller asks which layers may start,
runs them however it likes, and says how each ended. That keeps "never before its
dependencies" and "skip exactly the dependents" checkable without running Terraform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise

from msgspec import Struct, field

from ..config import OnFailure
from ..digraph import topological


class LayerGraph(Struct, frozen=True):
    """Which layer needs which, over a fixed set of layer names."""

    deps: Mapping[str, frozenset[str]]  # layer → the layers it directly depends on
    rank: Mapping[str, int]  # the tie-breaker (`order`)
    implicit: bool = False  # True when the edges were made from `order` (no edge declared)
    # layer → the layers it must not run beside, in either order (`unit_reads.apart`)
    apart: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        order: Mapping[str, int],
        declared: Mapping[str, Iterable[str]],
        apart: Mapping[str, frozenset[str]] | None = None,
    ) -> LayerGraph:
        """`order` maps every layer to its `order`; `declared` maps a layer to the layers it
        depends on (depends_on plus Terragrunt's); `apart`, the layers that must not run at
        the same time. Raises ValueError on unknown names or a cycle, naming them."""
        unknown = sorted(
            f"`{name}` depends on `{dep}`"
            for name, targets in declared.items()
            for dep in targets
            if dep not in order
        )
        if unknown:
            raise ValueError("unknown layer: " + "; ".join(unknown))
        edges = {name: frozenset(declared.get(name, ())) for name in order}
        implicit = not any(edges.values())
        if implicit:
            chain = sorted(order, key=lambda n: (order[n], n))
            edges = {b: frozenset({a}) for a, b in pairwise(chain)}
            edges[chain[0]] = frozenset()
        graph = cls(edges, dict(order), implicit, dict(apart or {}))
        graph.ordered()  # raises on a cycle
        return graph

    def ordered(self, names: Iterable[str] | None = None) -> list[str]:
        """`names` (default: every layer) in an order that respects every edge."""
        keep = set(self.deps) if names is None else set(names)
        sub = self.restricted(keep)
        return topological(sub.deps, key=lambda n: self.rank.get(n, 0))

    def ancestors(self, name: str) -> frozenset[str]:
        """Everything `name` depends on, directly or through others."""
        seen: set[str] = set()
        todo = list(self.deps.get(name, ()))
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self.deps.get(dep, ()))
        return frozenset(seen)

    def restricted(self, names: Iterable[str]) -> LayerGraph:
        """The graph over `names` alone, keeping dependencies that ran through layers left
        out: when only `a` and `c` of a → b → c are applied, `c` still waits for `a`."""
        keep = set(names)
        deps = {name: frozenset(self.ancestors(name) & keep) for name in keep}
        apart = {name: others & keep for name, others in self.apart.items() if name in keep}
        return LayerGraph(deps, {n: self.rank.get(n, 0) for n in keep}, self.implicit, apart)

    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs, in a stable order."""
        return sorted((dep, name) for name, deps in self.deps.items() for dep in deps)


class Scheduler:
    """Which layers may start now, given which ended how. Deterministic and thread-free: the
    runner calls `ready`, `start`, and `finish` (all from one thread)."""

    def __init__(
        self, graph: LayerGraph, on_failure: OnFailure = OnFailure.STOP, parallelism: int = 1
    ) -> None:
        self.graph = graph
        self.on_failure = on_failure
        self.parallelism = parallelism
        self._order = graph.ordered()
        self._running: set[str] = set()
        self._succeeded: set[str] = set()
        self._failed: list[str] = []
        self.skipped: dict[str, str] = {}  # layer → why

    @property
    def pending(self) -> list[str]:
        """Not started, not skipped, in graph order."""
        done = self._running | self._succeeded | set(self._failed) | set(self.skipped)
        return [name for name in self._order if name not in done]

    @property
    def finished(self) -> bool:
        return not self._running and not self.pending

    def ready(self) -> list[str]:
        """The layers that may start now: all their dependencies succeeded, none they must
        run apart from is running (or starts with them), and a slot is free. Never more than
        `parallelism` run at once."""
        slots = self.parallelism - len(self._running)
        busy = set(self._running)
        free: list[str] = []
        for name in self.pending:
            if len(free) >= slots:
                break
            if self.graph.deps[name] <= self._succeeded and not self._apart(name) & busy:
                free.append(name)
                busy.add(name)
        return free

    def _apart(self, name: str) -> frozenset[str]:
        return self.graph.apart.get(name, frozenset())

    def start(self, name: str) -> None:
        if name not in self.ready():
            raise ValueError(f"`{name}` cannot start yet")  # a runner bug, not a user error
        self._running.add(name)

    def finish(self, name: str, ok: bool) -> None:
        self._running.discard(name)
        if ok:
            self._succeeded.add(name)
            return
        self._failed.append(name)
        if self.on_failure is OnFailure.STOP:
            for other in self.pending:
                self.skipped[other] = f"not applied: `{name}` failed first"
            return
        for other in self.pending:
            if name in self.graph.ancestors(other):
                self.skipped[other] = f"not applied: depends on `{name}`, which failed"

    def cancel(self, reason: str) -> None:
        """Nothing else starts (the job was cancelled)."""
        for other in self.pending:
            self.skipped[other] = reason


def render_text(graph: LayerGraph) -> str:
    """One line per layer in apply order, with what it waits for:
    `data-prod  ← platform`."""
    names = graph.ordered()
    width = max(map(len, names), default=0)
    lines = []
    for name in names:
        deps = sorted(graph.deps[name], key=lambda d: names.index(d))
        lines.append(f"{name:<{width}}  ← {', '.join(deps)}" if deps else name)
    if graph.implicit:
        lines.append("(no layer declares depends_on: each layer waits for the one before it)")
    return "\n".join(lines)


def render_mermaid(graph: LayerGraph, status: Mapping[str, str] | None = None) -> str:
    """A Mermaid flowchart (GitHub renders it in comments, job summaries and the docs); with
    `status`, each layer's box carries its outcome (an icon and a word)."""
    names = graph.ordered()
    node = {name: f"L{i}" for i, name in enumerate(names)}  # layer names may hold `.` and `-`
    lines = ["```mermaid", "flowchart LR"]
    for name in names:
        label = f"{name} {status[name]}" if status and name in status else name
        lines.append(f'  {node[name]}["{label}"]')
    for dep, name in graph.edges():
        lines.append(f"  {node[dep]} --> {node[name]}")
    lines.append("```")
    return "\n".join(lines)
