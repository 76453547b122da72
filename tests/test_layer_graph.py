"""The layer graph and its scheduler: order, cycles, and what a failure skips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra_pipeline.config import OnFailure
from infra_pipeline.core.layer_graph import LayerGraph, Scheduler, render_mermaid, render_text
from infra_pipeline.digraph import strongly_connected, topological

# The five-layer graph of the stories: network and identity are independent roots, cluster
# needs both, apps and data need the cluster.
FIVE = {"network": 1, "identity": 2, "cluster": 3, "apps": 4, "data": 5}
FIVE_DEPS = {"cluster": ["network", "identity"], "apps": ["cluster"], "data": ["cluster"]}


def run(scheduler: Scheduler, failing: set[str]) -> list[str]:
    """Drive the scheduler one layer at a time; returns the layers started, in order."""
    started: list[str] = []
    while not scheduler.finished:
        ready = scheduler.ready()
        assert ready, "the scheduler stalled with layers pending"
        name = ready[0]
        scheduler.start(name)
        started.append(name)
        scheduler.finish(name, name not in failing)
    return started


def test_order_breaks_ties_between_independent_layers() -> None:
    graph = LayerGraph.build(FIVE, FIVE_DEPS)
    assert graph.ordered() == ["network", "identity", "cluster", "apps", "data"]
    swapped = LayerGraph.build({**FIVE, "network": 9}, FIVE_DEPS)
    assert swapped.ordered() == ["identity", "network", "cluster", "apps", "data"]


def test_without_declared_edges_order_is_a_chain_like_the_seed() -> None:
    graph = LayerGraph.build({"a": 1, "b": 2, "c": 3}, {})
    assert graph.implicit
    assert graph.edges() == [("a", "b"), ("b", "c")]
    scheduler = Scheduler(graph, OnFailure.SKIP_DEPENDENTS, parallelism=3)
    assert scheduler.ready() == ["a"]


def test_text_and_mermaid_show_each_edge() -> None:
    graph = LayerGraph.build(FIVE, FIVE_DEPS)
    assert render_text(graph).splitlines() == [
        "network",
        "identity",
        "cluster   ← network, identity",
        "apps      ← cluster",
        "data      ← cluster",
    ]
    chart = render_mermaid(graph, {"apps": "❌"}).splitlines()
    assert chart[:2] == ["```mermaid", "flowchart LR"]
    assert '  L3["apps ❌"]' in chart
    assert "  L2 --> L3" in chart and "  L0 --> L2" in chart


def test_a_cycle_is_named_with_its_members() -> None:
    with pytest.raises(ValueError, match=r"a dependency cycle: apps → cluster → apps"):
        LayerGraph.build(FIVE, {**FIVE_DEPS, "cluster": ["apps"]})


def test_unknown_dependency_is_named() -> None:
    with pytest.raises(ValueError, match="`apps` depends on `clustr`"):
        LayerGraph.build(FIVE, {"apps": ["clustr"]})


def test_strongly_connected_names_each_cycle_apart() -> None:
    deps = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"], "e": ["a"], "f": ["f"]}
    assert strongly_connected(deps) == [["a", "b"], ["c", "d"], ["f"]]


def test_stop_skips_everything_after_a_failure() -> None:
    scheduler = Scheduler(LayerGraph.build(FIVE, FIVE_DEPS), OnFailure.STOP)
    assert run(scheduler, failing={"identity"}) == ["network", "identity"]
    assert set(scheduler.skipped) == {"cluster", "apps", "data"}
    assert "`identity` failed first" in scheduler.skipped["apps"]


def test_skip_dependents_goes_on_with_the_rest() -> None:
    order = {**FIVE, "dns": 6}
    deps = {**FIVE_DEPS, "dns": ["network"]}
    scheduler = Scheduler(LayerGraph.build(order, deps), OnFailure.SKIP_DEPENDENTS)
    assert run(scheduler, failing={"identity"}) == ["network", "identity", "dns"]
    assert set(scheduler.skipped) == {"cluster", "apps", "data"}
    assert "depends on `identity`" in scheduler.skipped["data"]


def test_restricted_graph_keeps_dependencies_through_left_out_layers() -> None:
    graph = LayerGraph.build({"a": 1, "b": 2, "c": 3}, {"b": ["a"], "c": ["b"]})
    only = graph.restricted({"a", "c"})
    assert only.deps["c"] == frozenset({"a"})
    assert topological(only.deps, key=lambda n: 0) == ["a", "c"]


def test_parallelism_starts_independent_layers_together() -> None:
    scheduler = Scheduler(LayerGraph.build(FIVE, FIVE_DEPS), parallelism=4)
    assert scheduler.ready() == ["network", "identity"]
    for name in ("network", "identity"):
        scheduler.start(name)
    assert scheduler.ready() == []
    scheduler.finish("network", True)
    assert scheduler.ready() == []  # cluster still waits for identity
    scheduler.finish("identity", True)
    assert scheduler.ready() == ["cluster"]


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, list[str]]]:
    n = draw(st.integers(min_value=1, max_value=9))
    names = [f"l{i}" for i in range(n)]
    deps = {
        name: draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        for i, name in enumerate(names)
    }
    ranks = draw(st.permutations(range(n)))
    return dict(zip(names, ranks, strict=True)), deps


@settings(max_examples=200, deadline=None)
@given(
    dag=dags(),
    fail_mask=st.lists(st.booleans(), min_size=9, max_size=9),
    mode=st.sampled_from(list(OnFailure)),
    parallelism=st.integers(min_value=1, max_value=4),
    pick=st.lists(st.integers(min_value=0, max_value=8), min_size=40, max_size=40),
)
def test_scheduler_never_runs_a_layer_before_its_dependencies(
    dag: tuple[dict[str, int], dict[str, list[str]]],
    fail_mask: list[bool],
    mode: OnFailure,
    parallelism: int,
    pick: list[int],
) -> None:
    order, deps = dag
    graph = LayerGraph.build(order, deps)
    failing = {name for i, name in enumerate(order) if fail_mask[i]}
    scheduler = Scheduler(graph, mode, parallelism)
    running: list[str] = []
    succeeded: set[str] = set()
    failed: list[str] = []
    steps = iter(pick * 10)
    while not scheduler.finished:
        ready = scheduler.ready()
        # Start what is ready, or finish a running layer, in an order the data picks.
        if ready and (not running or next(steps) % 2 == 0):
            name = ready[next(steps) % len(ready)]
            assert graph.ancestors(name) <= succeeded, f"{name} started before a dependency"
            assert not (mode is OnFailure.STOP and failed), f"{name} started after a failure"
            scheduler.start(name)
            running.append(name)
            assert len(running) <= parallelism
            continue
        assert running, "stalled with nothing running"
        name = running.pop(next(steps) % len(running))
        ok = name not in failing
        scheduler.finish(name, ok)
        (succeeded.add(name) if ok else failed.append(name))
    ran = succeeded | set(failed)
    assert ran | set(scheduler.skipped) == set(order)
    assert not ran & set(scheduler.skipped)
    if mode is OnFailure.SKIP_DEPENDENTS:
        # Exactly the layers that depend on a failure are skipped.
        doomed = {n for n in order if graph.ancestors(n) & set(failed)}
        assert set(scheduler.skipped) == doomed


def test_layers_kept_apart_never_start_together_and_others_run_beside_them() -> None:
    """`a` and `b` must run apart (Terragrunt copies a tree the other writes in); `c` may run
    beside either."""
    apart = {"a": frozenset({"b"}), "b": frozenset({"a"})}
    graph = LayerGraph({n: frozenset() for n in "abc"}, {"a": 1, "b": 2, "c": 3}, False, apart)
    scheduler = Scheduler(graph, OnFailure.SKIP_DEPENDENTS, parallelism=3)
    assert scheduler.ready() == ["a", "c"]
    scheduler.start("a")
    assert scheduler.ready() == ["c"]
    with pytest.raises(ValueError):
        scheduler.start("b")
    scheduler.finish("a", ok=False)  # a failed plan keeps nothing else from running
    assert scheduler.ready() == ["b", "c"]


def test_a_restricted_graph_keeps_the_layers_apart() -> None:
    apart = {"a": frozenset({"b", "c"}), "b": frozenset({"a"}), "c": frozenset({"a"})}
    graph = LayerGraph({n: frozenset() for n in "abc"}, {"a": 1, "b": 2, "c": 3}, False, apart)
    assert graph.restricted({"a", "b"}).apart == {"a": frozenset({"b"}), "b": frozenset({"a"})}


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.sets(st.tuples(st.sampled_from("abcdef"), st.sampled_from("abcdef"))),
    parallelism=st.integers(1, 4),
    picks=st.lists(st.integers(0, 5), min_size=40, max_size=40),
)
def test_no_two_layers_kept_apart_ever_run_at_once(
    pairs: set[tuple[str, str]], parallelism: int, picks: list[int]
) -> None:
    """Whatever finishes when, the scheduler never has two layers of an `apart` pair running,
    and it still runs every layer."""
    names = "abcdef"
    apart: dict[str, set[str]] = {}
    for x, y in pairs:
        if x != y:
            apart.setdefault(x, set()).add(y)
            apart.setdefault(y, set()).add(x)
    graph = LayerGraph(
        {n: frozenset() for n in names},
        {n: i for i, n in enumerate(names)},
        False,
        {n: frozenset(o) for n, o in apart.items()},
    )
    scheduler = Scheduler(graph, OnFailure.SKIP_DEPENDENTS, parallelism)
    running: list[str] = []
    done: list[str] = []
    for pick in picks * 2:
        for name in scheduler.ready():
            scheduler.start(name)
            running.append(name)
        assert all(y not in apart.get(x, ()) for x in running for y in running)
        if not running:
            break
        name = running.pop(pick % len(running))
        scheduler.finish(name, ok=True)
        done.append(name)
    assert scheduler.finished and sorted(done) == list(names)
