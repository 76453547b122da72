"""The commit's state is read off its rows, so users may act in any order: random sequences of
what jobs do (validate, plan, apply, review, die) never hit a state-machine error when work ends,
never show "ready to merge" with something left to apply, and `infra/apply` always agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.dashboard.state_machine import allowed_events
from infra_pipeline.core.dashboard.steps import Dashboard, Event, Stage, State, Status
from infra_pipeline.models import ChangeKind, Outcome, PlanCounts, PlanResult, ResourceChange

HEAD, BASE = "a" * 40, "b" * 40
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
LAYERS = ["bootstrap", "platform", "data-staging"]


def fresh() -> Dashboard:
    return d.new_dashboard(
        repo="acme/infra",
        pr=7,
        head_sha=HEAD,
        base_sha=BASE,
        layers=LAYERS,
        server_url="https://github.com",
    )


def plan(layer: str, changes: bool) -> PlanResult:
    resources = (ResourceChange(f"{layer}.x", ChangeKind.UPDATE, ("update",)),) if changes else ()
    return PlanResult(
        layer=layer,
        counts=PlanCounts(change=len(resources)),
        resource_changes=resources,
        output_changes=(),
        drift=(),
        diagnostics=(),
        fingerprint=f"{layer}-{changes}",
        text="",
    )


# One job's worth of work: (what, layers, how it ends). "dies" leaves the rows running. The
# repeats weigh the draw towards getting somewhere: plans with changes, then applies.
ENDS = st.sampled_from(["ok", "changes", "changes", "ok", "failed", "dies"])
ACTIONS = st.tuples(
    st.sampled_from(["ci", "plan", "plan", "plan", "apply", "apply", "apply", "review", "sweep"]),
    st.lists(st.sampled_from(LAYERS), min_size=1, max_size=3, unique=True),
    ENDS,
)


def act(m: Dashboard, action: tuple[str, list[str], str], run: int, now: datetime) -> Dashboard:
    """What a flow does: ask whether the work may start (a refusal changes nothing), start it,
    and record how it ended. Recording an end must never raise."""
    kind, layers, end = action
    if kind == "sweep":  # a later job finds every run but its own dead
        return d.mark_stale(m, lambda _run: False, now, timedelta(hours=3), current_run_id=run)
    if kind == "review":
        m = d.start_stage(m, Stage.REVIEW, run, now)
        status = {"ok": Status.OK, "failed": Status.FAILED}.get(end, Status.SKIPPED)
        return m if end == "dies" else d.finish_stage(m, Stage.REVIEW, status, run, now)
    event = {"ci": Event.CI_STARTED, "plan": Event.PLAN_STARTED, "apply": Event.APPLY_STARTED}
    if kind == "apply":
        layers = [name for name in layers if m.layer(name).pending_changes]
        if not layers:
            return m
    if d.start_refusal(m, event[kind], run) is not None:
        return m
    if kind == "ci":
        m = d.start_stage(m, Stage.CI, run, now)
        if end == "dies":
            return m
        status = Status.FAILED if end == "failed" else Status.OK
        return d.finish_stage(m, Stage.CI, status, run, now)
    if kind == "plan":
        m = d.start_plan(m, layers, run, now)
        for name in layers if end != "dies" else ():
            if end == "failed":
                m = d.fail_plan(m, name, "Error: boom", run, now)
            else:
                m = d.finish_plan(m, plan(name, end == "changes"), run, now, base_sha=BASE)
        return m
    m = d.start_apply(m, layers, run, now)
    if end == "dies":
        return m
    outcome = Outcome.FAILED if end == "failed" else Outcome.OK
    return d.finish_apply(m, dict.fromkeys(layers, outcome), run, now)


def check(m: Dashboard) -> None:
    state = m.state
    checks = {c.context: c for c in d.commit_statuses(m)}
    apply_check = checks.get(d.APPLY_CONTEXT)
    failed = [layer for layer in m.layers if layer.plan_failed or layer.applied is Outcome.FAILED]
    if state is State.READY_MERGE:
        assert not m.pending_changes and not failed
        assert "ready to merge" in d.next_step(m)
        assert apply_check is not None and apply_check.state == "success"
    else:
        assert "ready to merge" not in d.next_step(m)
    if apply_check is not None and apply_check.state == "success":
        assert not m.pending_changes and not failed
        assert state in (State.READY_MERGE, State.APPLY_DONE, State.REVIEW_RUNNING)
    assert d.parse(d.render(m)).state is state


@settings(max_examples=300, deadline=None)
@given(st.lists(ACTIONS, max_size=16))
def test_any_order_of_work_keeps_state_and_statuses_truthful(
    actions: list[tuple[str, list[str], str]],
) -> None:
    m = act(fresh(), ("ci", LAYERS, "ok"), 99, NOW)
    for number, action in enumerate(actions):
        m = act(m, action, 100 + number, NOW + timedelta(minutes=number))
        check(m)


def test_every_idle_state_lets_plan_start_after_validation() -> None:
    # `/plan` works from wherever the commit stands: from Created and CI_Failed it starts CI
    # Validate first, from every other idle state the plan itself.
    for state in State:
        if state in (State.CREATED, State.CI_FAILED):
            assert Event.CI_STARTED in allowed_events(state)
        elif "Running" not in state.value and state is not State.PLAN_READY:
            assert Event.PLAN_STARTED in allowed_events(state), state


def test_a_job_that_dies_mid_apply_leaves_its_layers_failed_not_pending() -> None:
    m = act(fresh(), ("ci", ["platform"], "ok"), 1, NOW)
    m = act(m, ("plan", ["platform", "data-staging"], "changes"), 2, NOW)
    m = act(m, ("apply", ["platform"], "dies"), 3, NOW)
    assert m.state is State.APPLY_RUNNING
    m = act(m, ("sweep", [], "ok"), 4, NOW + timedelta(minutes=5))
    assert m.state is State.APPLY_FAILED
    assert m.layer("platform").applied is Outcome.FAILED
    assert m.layer("data-staging").applied is None
    assert {c.context: c.state for c in d.commit_statuses(m)}[d.APPLY_CONTEXT] == "failure"
