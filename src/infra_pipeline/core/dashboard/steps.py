"""One commit's dashboard: the pure steps that change the model.

The dashboard comment is the pipeline's only memory: a stateless CI job reads it, applies one of
the steps below and writes it back (`adapters/board.py`). Callers never set fields by hand:
every change goes through a step here. Steps record facts (rows, plans, per-layer outcomes);
the `State` is derived from them (`model.derive_state`), so recording how something ended never
fails. Only starting work is checked against `state_machine.py`'s transitions, and a flow asks
`start_refusal` before it takes a lock or touches Terraform. This module is the one import
callers need: it re-exports the model (`model`), what readers see (`view`) and
`render`/`parse` (`render`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from msgspec.structs import replace

from infra_pipeline.core.dashboard.model import (
    Dashboard,
    LayerState,
    PlanRecord,
    Revision,
    Row,
    Stage,
    Status,
    new_dashboard,
)
from infra_pipeline.core.dashboard.plan_view import row_detail, row_status, view_digest
from infra_pipeline.core.dashboard.render import (
    LIMIT,
    DashboardError,
    anchor,
    marker,
    parse,
    render,
    render_for_summary,
    stamp,
    step_summary,
)
from infra_pipeline.core.dashboard.state_machine import Event, State, transition
from infra_pipeline.core.dashboard.view import (
    APPLY_CONTEXT,
    PLAN_CONTEXT,
    Check,
    CheckState,
    commit_statuses,
    next_step,
)
from infra_pipeline.core.plan_text import clean, one_line, trim
from infra_pipeline.core.policy_check import Approval, PolicyResult, failure_keys
from infra_pipeline.errors import InfraError
from infra_pipeline.models import (
    ChangeKind,
    Diagnostic,
    LayerRun,
    Outcome,
    PlanResult,
    StateLock,
    StepResult,
)

__all__ = [
    "APPLY_CONTEXT",
    "LIMIT",
    "PLAN_CONTEXT",
    "Check",
    "CheckState",
    "Dashboard",
    "DashboardError",
    "Event",
    "LayerState",
    "PlanRecord",
    "Revision",
    "Row",
    "Stage",
    "State",
    "Status",
    "anchor",
    "approve_policies",
    "commit_statuses",
    "fail_plan",
    "finish_apply",
    "finish_plan",
    "finish_plan_record",
    "finish_stage",
    "leave_untouched",
    "mark_stale",
    "marker",
    "new_dashboard",
    "next_step",
    "parse",
    "plan_record",
    "record_plans",
    "record_policies",
    "record_steps",
    "render",
    "render_for_summary",
    "revive",
    "running_runs",
    "set_lock",
    "shown_policy",
    "skip_plan",
    "stamp",
    "start_apply",
    "start_plan",
    "start_refusal",
    "start_stage",
    "step_summary",
    "supersede",
    "wait_for_lock",
]

# Policy messages kept per layer and kind; the job log has them all.
POLICY_MESSAGES_KEPT: Final = 20
POLICY_MESSAGE_LIMIT: Final = 300

# Addresses kept by name, per action; the rest are counted (the plan text has them all).
DESTRUCTIVE_LISTED: Final = 20
ADDRESSES_LISTED: Final = 20
# Longest plan text kept in the model: more than a comment can ever show.
TEXT_LIMIT: Final = 60_000
DETAIL_LIMIT: Final = 200
DIAGNOSTICS_KEPT: Final = 5  # a layer's errors shown; the log has them all
STALE_DETAIL: Final = "run stopped without reporting"


# -- stages other than plan and apply ------------------------------------------------------------


def start_refusal(m: Dashboard, event: Event, run_id: int) -> InfraError | None:
    """Why work that fires `event` (CI_STARTED, PLAN_STARTED, APPLY_STARTED) may not start on
    this commit now, as the error to reply with; None when it may. Flows ask before taking a
    lock or running anything; the start steps below raise the same error."""
    state = m.state
    if event is Event.PLAN_STARTED and state is State.PLAN_RUNNING:
        # Jobs of one workflow run (a matrix, one layer each) join the running plan.
        others = {layer.plan.run_id for layer in m.layers if layer.plan.status is Status.RUNNING}
        if others <= {run_id}:
            return None
    if event is Event.APPLY_STARTED and state is State.PLAN_DIFF:
        state = State.APPLY_WAITING  # the `/apply` comment is the reviewer's sign-off
    try:
        transition(state, event)
    except InfraError as exc:
        return exc
    return None


def _check_start(m: Dashboard, event: Event, run_id: int) -> None:
    refusal = start_refusal(m, event, run_id)
    if refusal is not None:
        raise refusal


def start_stage(m: Dashboard, stage: Stage, run_id: int, now: datetime) -> Dashboard:
    """Show `stage` (CI, AI review, health, E2E) as running under `run_id`. Only CI Validate
    is checked against the state: a review, a health check or an E2E run is advisory and may
    run at any time."""
    _not_apply(stage)
    if stage is Stage.CI:
        _check_start(m, Event.CI_STARTED, run_id)
    return _set_row(m, stage, _running(run_id, now))


def finish_stage(
    m: Dashboard, stage: Stage, status: Status, run_id: int | None, now: datetime, detail: str = ""
) -> Dashboard:
    """Record how `stage` ended; SKIPPED with a reason in `detail` for a stage that did not run."""
    _not_apply(stage)
    before = m.row(stage)
    started = before.started_at if before is not None and before.run_id == run_id else None
    row = Row(status, run_id, started or (now if run_id is not None else None), now, _short(detail))
    return _set_row(m, stage, row)


# -- plans ----------------------------------------------------------------------------------------


def start_plan(m: Dashboard, layers: Iterable[str], run_id: int, now: datetime) -> Dashboard:
    """Show a plan of `layers` as running, forgetting their earlier plans and applies. Several
    jobs of one workflow run (a matrix, one layer each) join the same Plan_Running; another run
    has to wait for the running plan to end. With no layers the plan is over at once: the rows
    never planned say so, and with nothing to apply the commit is ready to merge."""
    names = list(dict.fromkeys(layers))
    for name in names:
        m.layer(name)  # unknown layer: ValueError before anything changes
    _check_start(m, Event.PLAN_STARTED, run_id)
    if not names:
        for layer in m.layers:
            if layer.plan == Row() and layer.record is None:
                m = skip_plan(m, layer.name, "no layer to plan", now)
        return m
    running = _running(run_id, now)
    return _map_layers(m, names, lambda layer: LayerState(layer.name, running, lock=layer.lock))


def finish_plan(
    m: Dashboard, plan: PlanResult, run_id: int | None, now: datetime, *, base_sha: str
) -> Dashboard:
    """Record a successful plan of one layer, made against `base_sha` (the PR's base at the
    time, which may have moved since the dashboard was created)."""
    record = plan_record(plan, head_sha=m.head_sha, base_sha=base_sha)
    return finish_plan_record(m, plan.layer, record, run_id, now)


def plan_record(plan: PlanResult, *, head_sha: str, base_sha: str) -> PlanRecord:
    """What the dashboard keeps of a successful plan of `head_sha` against `base_sha`: all
    that `/apply` checks, and no planfile."""
    destructive = plan.destructive
    listed = destructive[:DESTRUCTIVE_LISTED]
    record = PlanRecord(
        head_sha=head_sha,
        base_sha=base_sha,
        fingerprint=plan.fingerprint,
        counts=plan.counts,
        has_changes=plan.has_changes,
        destroys=tuple(c.address for c in listed if c.kind is ChangeKind.DELETE),
        replaces=tuple(c.address for c in listed if c.kind is ChangeKind.REPLACE),
        more_destructive=len(destructive) - len(listed),
        creates=_addresses(plan, ChangeKind.CREATE),
        updates=_addresses(plan, ChangeKind.UPDATE),
        drift=len(plan.drift),
        text=trim(clean(plan.text), TEXT_LIMIT),
        seal=plan.seal,
        sensitive=plan.sensitive,
    )
    return replace(record, digest=view_digest(plan.layer, record))


def _addresses(plan: PlanResult, kind: ChangeKind) -> tuple[str, ...]:
    found = (c.address for c in plan.resource_changes if c.kind is kind)
    return tuple(address for _, address in zip(range(ADDRESSES_LISTED), found, strict=False))


def finish_plan_record(
    m: Dashboard, layer: str, record: PlanRecord, run_id: int | None, now: datetime
) -> Dashboard:
    """`finish_plan` for a plan this job did not make itself: a matrix job's, read back from
    its result file."""
    if record.head_sha != m.head_sha:
        raise ValueError(f"a plan of {record.head_sha[:7]} on the dashboard of {m.sha7}")
    row = Row(row_status(record), run_id, None, now, row_detail(record))
    return _finish_layer(m, layer, row, record)


def fail_plan(
    m: Dashboard,
    layer: str,
    error: str,
    run_id: int | None,
    now: datetime,
    diagnostics: tuple[Diagnostic, ...] = (),
) -> Dashboard:
    """A plan that failed: `diagnostics` are Terraform's own errors, `error` a one-line
    fallback for a failure Terraform did not explain (a crash, a missing binary)."""
    row = Row(Status.FAILED, run_id, None, now, _short(error))
    errors = tuple(d for d in diagnostics if d.severity == "error")[:DIAGNOSTICS_KEPT]
    return _finish_layer(m, layer, row, None, errors)


def lock_plan(
    m: Dashboard, layer: str, lock: StateLock, run_id: int | None, now: datetime
) -> Dashboard:
    """Not planned: the layer's Terraform state lock is held (by another job, or a stale one)."""
    detail = f"state locked: {lock.describe()}"
    return _finish_layer(m, layer, Row(Status.LOCKED, run_id, None, now, _short(detail)), None)


def wait_for_lock(m: Dashboard, lock: StateLock, run_id: int) -> Dashboard:
    """`lock.layer`'s plan or apply, running in `run_id`, waits for the Terraform state lock
    `lock` describes (its holder: who, since when, which run): its row says so until the
    layer's result is recorded, which clears it. Nothing changes when the layer is not
    running in `run_id` (its result is already in)."""
    layer = m.layer(lock.layer)
    planning = layer.plan.status is Status.RUNNING and layer.plan.run_id == run_id
    applying = m.apply.status is Status.RUNNING and m.apply.run_id == run_id
    if not (planning or applying):
        return m
    shown = StateLock(
        layer=lock.layer,
        backend=lock.backend,
        lock_id=_short(lock.lock_id),
        who=_short(lock.who),
        operation=_short(lock.operation),
        created=_short(lock.created),
        run_id=lock.run_id,
    )
    return _map_layers(m, [lock.layer], lambda state: replace(state, waiting=shown))


def skip_plan(m: Dashboard, layer: str, reason: str, now: datetime) -> Dashboard:
    """Not planned on purpose (an earlier layer failed, CI Validate failed); `reason` says why."""
    return _finish_layer(m, layer, Row(Status.SKIPPED, None, None, now, _short(reason)), None)


def leave_untouched(m: Dashboard, layer: str, now: datetime) -> Dashboard:
    """Not planned because this commit does not touch `layer`: folded into one row."""
    return _finish_layer(m, layer, Row(Status.UNTOUCHED, None, None, now), None)


def record_plans(
    m: Dashboard, runs: Iterable[LayerRun], run_id: int | None, now: datetime, *, base_sha: str
) -> Dashboard:
    """`finish_plan`, `fail_plan` or `skip_plan` for each layer's result, with the custom
    steps its plan ran."""
    for run in runs:
        if run.plan is not None and run.outcome in (Outcome.OK, Outcome.CHANGES):
            m = finish_plan(m, run.plan, run_id, now, base_sha=base_sha)
        elif run.outcome is Outcome.SKIPPED:
            m = skip_plan(m, run.layer, run.error or "skipped", now)
        elif run.lock is not None:
            m = lock_plan(m, run.layer, run.lock, run_id, now)
        else:
            m = fail_plan(m, run.layer, run.error or "plan failed", run_id, now, run.diagnostics)
        if run.steps:
            m = record_steps(m, run.layer, run.steps)
    return m


def record_policies(m: Dashboard, results: Iterable[PolicyResult]) -> Dashboard:
    """The `policies` check of each layer's plan, recorded after `record_plans` (which clears
    the layer's earlier one). Messages are shortened: they are shown, not parsed."""
    for result in results:
        if m.layer(result.layer).record is None:
            continue  # the plan it judged did not make it onto the dashboard
        m = _map_layers(m, [result.layer], partial(_with_policy, shown_policy(result)))
    return m


def _with_policy(policy: PolicyResult, layer: LayerState) -> LayerState:
    return replace(layer, policy=policy)


def shown_policy(result: PolicyResult) -> PolicyResult:
    """`result` as the dashboard keeps it (what an approval covers)."""
    return PolicyResult(
        result.layer, _kept(result.failures, "failures"), _kept(result.warnings, "warnings")
    )


def _kept(messages: tuple[str, ...], what: str) -> tuple[str, ...]:
    shown = tuple(one_line(text, POLICY_MESSAGE_LIMIT) for text in messages)
    if len(shown) <= POLICY_MESSAGES_KEPT:
        return shown
    more = len(shown) - POLICY_MESSAGES_KEPT + 1
    return (*shown[: POLICY_MESSAGES_KEPT - 1], f"... and {more} more {what} (see the job log)")


def approve_policies(
    m: Dashboard, login: str, role: str, comment_id: int | None = None
) -> Dashboard:
    """`/approve_policies` by `login` (in comment `comment_id`): every policy failure shown
    now may be applied."""
    approval = Approval(login, role, failure_keys(m.policy_results), comment_id)
    return replace(m, policy_approval=approval)


def record_steps(m: Dashboard, layer: str, ran: Iterable[StepResult]) -> Dashboard:
    """Show the custom steps a plan or an apply of `layer` ran. They replace the earlier ones
    of the same kind (a new plan's replace the last plan's, an apply's the last apply's)."""
    ran = tuple(ran)
    planning = {step.stage.planning for step in ran}

    def change(state: LayerState) -> LayerState:
        kept = tuple(step for step in state.steps if step.stage.planning not in planning)
        return replace(state, steps=tuple(sorted((*kept, *ran), key=_stage_order)))

    return _map_layers(m, [layer], change)


def _stage_order(step: StepResult) -> int:
    return list(type(step.stage)).index(step.stage)


def _finish_layer(
    m: Dashboard,
    name: str,
    row: Row,
    record: PlanRecord | None,
    diagnostics: tuple[Diagnostic, ...] = (),
) -> Dashboard:
    before = m.layer(name).plan
    if before.status is Status.RUNNING and before.run_id == row.run_id:
        row = replace(row, started_at=before.started_at)
    elif row.run_id is not None:
        row = replace(row, started_at=row.finished_at)
    lock = m.layer(name).lock
    state = LayerState(name, row, record, None, lock, diagnostics)
    return _map_layers(m, [name], lambda layer: state)


# -- apply ---------------------------------------------------------------------------------------


def start_apply(m: Dashboard, layers: Iterable[str], run_id: int, now: datetime) -> Dashboard:
    """Show an apply of `layers` as running. From Plan_Diff, the `/apply` comment is the
    reviewer's sign-off, so the commit passes through Apply_Waiting.

    Each layer is written down as FAILED until `finish_apply` says otherwise: if the job dies
    mid-apply (killed runner, cancelled run), the dashboard already tells the truth that
    matters, that the layer's state may be partial, with no step having to guess later."""
    names = list(dict.fromkeys(layers))
    for name in names:
        m.layer(name)
    _check_start(m, Event.APPLY_STARTED, run_id)
    m = _map_layers(
        m,
        names,
        lambda layer: replace(layer, applied=Outcome.FAILED, applied_summary="", waiting=None),
    )
    detail = "applying " + ", ".join(names)
    return replace(m, apply=replace(_running(run_id, now), detail=_short(detail)))


def finish_apply(
    m: Dashboard,
    outcomes: Mapping[str, Outcome],
    run_id: int | None,
    now: datetime,
    detail: str = "",
    runs: Iterable[LayerRun] = (),
) -> Dashboard:
    """Record each layer's apply outcome (in apply order); any FAILED fails the apply. A
    layer that was not applied (SKIPPED after an earlier one failed) has nothing applied. Once
    something was applied, the AI review of the result is due again (its row is cleared).
    `runs` (the applies themselves) add Terraform's summary line or its errors per layer."""
    for name in outcomes:
        m.layer(name)
    said = {run.layer: run for run in runs}

    def outcome(layer: LayerState) -> LayerState:
        done = outcomes[layer.name]
        run = said.get(layer.name)
        errors = tuple(d for d in run.diagnostics if d.severity == "error") if run else ()
        return replace(
            layer,
            applied=None if done is Outcome.SKIPPED else done,
            applied_summary=_short(run.summary) if run else "",
            diagnostics=errors[:DIAGNOSTICS_KEPT] or layer.diagnostics,
            waiting=None,
        )

    m = _map_layers(m, list(outcomes), outcome)
    for run in said.values():
        if run.steps and run.layer in outcomes:
            m = record_steps(m, run.layer, run.steps)
    failed = Outcome.FAILED in outcomes.values()
    started = m.apply.started_at if m.apply.run_id == run_id else now
    status = Status.FAILED if failed else Status.OK
    m = replace(m, apply=Row(status, run_id, started, now, _short(detail)))
    if Outcome.OK in outcomes.values():
        m = replace(m, review=Row())
    return m


# -- locks, supersede, dead runs -----------------------------------------------------------------


def set_lock(m: Dashboard, layer: str, note: str) -> Dashboard:
    """Show who holds `layer`'s lock ("locked by #12"); an empty note clears it."""
    m.layer(layer)
    return _map_layers(m, [layer], lambda state: replace(state, lock=_short(note)))


def supersede(m: Dashboard, by_sha: str) -> Dashboard:
    return replace(m, superseded_by=by_sha)


def revive(m: Dashboard) -> Dashboard:
    """The commit is the PR's head again (a force-push back to it)."""
    return replace(m, superseded_by=None)


def running_runs(m: Dashboard) -> frozenset[int]:
    """Run ids of the rows still shown as running."""
    return frozenset(row.run_id for row in _rows(m) if row.status is Status.RUNNING and row.run_id)


def mark_stale(
    m: Dashboard,
    is_run_alive: Callable[[int], bool],
    now: datetime,
    timeout: timedelta,
    *,
    current_run_id: int | None = None,
) -> Dashboard:
    """Turn ⏳ rows whose run ended (or is older than `timeout`) into ⚠️ "run stopped without
    reporting". A cancelled job or a killed runner never reports back; without this the
    dashboard would show ⏳ forever. The state follows from the rows: a dead CI run fails CI,
    a dead plan fails its layer, a dead apply leaves its layers FAILED (`start_apply`), a dead
    review counts as skipped. The current run is alive by definition."""

    def stale(row: Row) -> bool:
        if row.status is not Status.RUNNING or row.run_id == current_run_id:
            return False
        if row.started_at is not None and now - row.started_at > timeout:
            return True
        return row.run_id is not None and not is_run_alive(row.run_id)

    def fix(row: Row) -> Row:
        return replace(row, status=Status.STALE, detail=STALE_DETAIL) if stale(row) else row

    def fix_optional(row: Row | None) -> Row | None:
        return None if row is None else fix(row)

    fixed = replace(
        m,
        ci=fix(m.ci),
        apply=fix(m.apply),
        review=fix(m.review),
        health=fix_optional(m.health),
        e2e=fix_optional(m.e2e),
        merge_queue=fix_optional(m.merge_queue),
        layers=tuple(replace(layer, plan=fix(layer.plan)) for layer in m.layers),
    )
    # A dead run waits for no lock any more.
    fixed = replace(
        fixed,
        layers=tuple(replace(layer, waiting=layer.waiting_in(fixed)) for layer in fixed.layers),
    )
    return m if fixed == m else fixed


# -- helpers -------------------------------------------------------------------------------------


def _running(run_id: int, now: datetime) -> Row:
    return Row(Status.RUNNING, run_id, now, None)


def _set_row(m: Dashboard, stage: Stage, row: Row) -> Dashboard:
    if stage is Stage.CI:
        return replace(m, ci=row)
    if stage is Stage.REVIEW:
        return replace(m, review=row)
    if stage is Stage.HEALTH:
        return replace(m, health=row)
    if stage is Stage.E2E:
        return replace(m, e2e=row)
    if stage is Stage.MERGE_QUEUE:
        return replace(m, merge_queue=row)
    return replace(m, apply=row)


def _not_apply(stage: Stage) -> None:
    if stage is Stage.APPLY:
        raise ValueError("the Apply row has per-layer outcomes: use start_apply/finish_apply")


def _map_layers(
    m: Dashboard, names: Iterable[str], change: Callable[[LayerState], LayerState]
) -> Dashboard:
    wanted = set(names)
    layers = tuple(change(layer) if layer.name in wanted else layer for layer in m.layers)
    return replace(m, layers=layers)


def _rows(m: Dashboard) -> Iterable[Row]:
    yield from (m.ci, m.apply, m.review)
    yield from (row for row in (m.health, m.e2e, m.merge_queue) if row is not None)
    yield from (layer.plan for layer in m.layers)


def _short(text: str) -> str:
    return one_line(text, DETAIL_LIMIT)
