"""What a dashboard tells its readers, derived from the model alone: the one-line next step and
the `infra/plan` / `infra/apply` commit statuses that branch protection can require."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

from msgspec import Struct

from infra_pipeline.core.dashboard.model import Dashboard, LayerState, Status
from infra_pipeline.core.dashboard.plan_view import summary
from infra_pipeline.core.dashboard.state_machine import State
from infra_pipeline.models import Outcome

PLAN_CONTEXT: Final = "infra/plan"
APPLY_CONTEXT: Final = "infra/apply"


def next_step(m: Dashboard) -> str:
    """One line saying what to do next (Markdown, no newline)."""
    if m.superseded_by is not None:
        return f"↪️ Superseded by `{m.superseded_by[:7]}`: see that commit's dashboard"
    s = m.state
    if s in (State.CREATED, State.CI_RUNNING):
        return "⏳ Waiting for CI validation..."
    if s is State.CI_FAILED:
        return "❌ CI validation failed: fix the errors and push a new commit"
    waiting = [layer for layer in m.layers if layer.waiting_in(m) is not None]
    if s in (State.PLAN_RUNNING, State.APPLY_RUNNING) and waiting:
        return (
            f"⏳ {_names(waiting)} waiting for the Terraform state lock, held elsewhere (see "
            "the row): the run goes on once it is released"
        )
    if s in (State.CI_PASSED, State.PLAN_RUNNING):
        return "⏳ Waiting for plan..."
    if s is State.PLAN_FAILED:
        failed = [layer for layer in m.layers if layer.plan_failed]
        locked = [layer for layer in failed if layer.plan.status is Status.LOCKED]
        if locked and len(locked) == len(failed):
            return (
                f"🔒 The Terraform state of {_names(locked)} is locked: comment `/plan` once the "
                "holder is done, or see the reply for how to release a stale lock"
            )
        return f"❌ Plan failed in {_names(failed)}: fix it and push, or comment `/plan` to retry"
    blocked = m.policy_blocked([layer.name for layer in m.pending_changes])
    if s in (State.PLAN_DIFF, State.APPLY_WAITING) and blocked:
        failed = [layer for layer in m.layers if layer.policy and layer.policy.failures]
        return (
            f"❌ The policy check failed in {_names(failed)}: push a fix, or "
            "someone allowed by `policies.approvers` comments `/approve_policies`; then `/apply`"
        )
    if s is State.PLAN_DIFF:
        return _changes_line(m)
    if s is State.APPLY_WAITING:  # some layers applied, the others still to apply
        done = [layer for layer in m.layers if layer.applied is Outcome.OK]
        return _changes_line(m, f"✅ Applied {_names(done)}; still to apply:")
    if s is State.APPLY_RUNNING:
        return "⏳ Applying... (see the Apply row for the run)"
    if s is State.APPLY_FAILED:
        failed = [layer for layer in m.layers if layer.applied is Outcome.FAILED]
        where = f" in {_names(failed)}" if failed else ""
        return (
            f"❌ Apply failed{where}: read the log, then comment `/apply` to retry "
            "or `/plan` to plan again"
        )
    if s is State.APPLY_DONE:
        return "✅ Applied: waiting for the AI review..."
    if s is State.REVIEW_RUNNING:
        return "⏳ Waiting for the AI review..."
    applied = any(layer.applied is Outcome.OK for layer in m.layers)
    if applied:
        return "✅ Applied: ready to merge"
    return "✅ No changes to apply: ready to merge"


def _changes_line(m: Dashboard, lead: str = "Plan shows changes in") -> str:
    parts = []
    for layer in m.pending_changes:
        assert layer.record is not None  # pending_changes has a record by definition
        counts = summary(layer.record)
        lock = f", {layer.lock}" if layer.lock else ""
        warn = "⚠️ " if layer.record.destructive else ""
        parts.append(f"{warn}`{layer.name}` ({counts}{lock})")
    return f"{lead} {_join(parts) or 'some layers'}: review them, then comment `/apply`"


def _names(layers: Iterable[LayerState]) -> str:
    return _join([f"`{layer.name}`" for layer in layers]) or "a layer"


def _join(items: list[str]) -> str:
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


class CheckState(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


class Check(Struct, frozen=True):
    """One commit status to set on the head commit."""

    context: str
    state: CheckState
    description: str


def commit_statuses(m: Dashboard) -> tuple[Check, ...]:
    """`infra/plan` and `infra/apply` as the model stands; none before any plan started.

    `infra/apply` is success whenever nothing is left to apply, a plan without changes
    included, so that requiring it never blocks a merge that has nothing to deploy.
    """
    if m.superseded_by is not None:
        return ()  # statuses belong to the head commit; an old one keeps what it had
    if m.state is State.CI_FAILED:
        # No plan runs after a failed validation; a required `infra/plan` must say why.
        reason = f"CI Validate failed: {m.ci.detail}" if m.ci.detail else "CI Validate failed"
        plan = Check(PLAN_CONTEXT, CheckState.FAILURE, reason)
        return plan, _apply_check(m, plan)
    planned = [layer for layer in m.layers if layer.record is not None]
    running = [layer for layer in m.layers if layer.plan.status is Status.RUNNING]
    failed = [layer for layer in m.layers if layer.plan_failed]
    if not (planned or running or failed) and m.state not in _AFTER_PLAN:
        return ()
    if running:
        plan = Check(PLAN_CONTEXT, CheckState.PENDING, f"planning {_count(running)}...")
    elif m.state is State.CI_RUNNING:  # a re-run validates again: the plans wait for it
        plan = Check(PLAN_CONTEXT, CheckState.PENDING, "CI Validate running...")
    elif failed:
        names = ", ".join(layer.name for layer in failed)
        plan = Check(PLAN_CONTEXT, CheckState.FAILURE, f"plan failed: {names}")
    else:
        changed = sum(1 for layer in planned if layer.record and layer.record.has_changes)
        plan = Check(
            PLAN_CONTEXT,
            CheckState.SUCCESS,
            f"{_count(planned)} planned, {changed} with changes",
        )
    return plan, _apply_check(m, plan)


_AFTER_PLAN: Final = frozenset(State) - {
    State.CREATED,
    State.CI_RUNNING,
    State.CI_PASSED,
    State.CI_FAILED,
}


def _apply_check(m: Dashboard, plan: Check) -> Check:
    pending = m.pending_changes
    if m.state is State.APPLY_RUNNING:
        return Check(APPLY_CONTEXT, CheckState.PENDING, "applying...")
    if m.state is State.APPLY_FAILED:
        failed = [layer.name for layer in m.layers if layer.applied is Outcome.FAILED]
        return Check(APPLY_CONTEXT, CheckState.FAILURE, "apply failed: " + ", ".join(failed))
    if plan.state is not CheckState.SUCCESS:
        return Check(APPLY_CONTEXT, CheckState.PENDING, "waiting for a successful plan")
    if pending and m.policy_blocked([layer.name for layer in pending]):
        return Check(APPLY_CONTEXT, CheckState.PENDING, "policy check failed: /approve_policies")
    if pending:
        return Check(APPLY_CONTEXT, CheckState.PENDING, f"{_count(pending)} with changes to /apply")
    applied = [layer for layer in m.layers if layer.applied is Outcome.OK]
    if applied:
        return Check(APPLY_CONTEXT, CheckState.SUCCESS, f"{_count(applied)} applied")
    return Check(APPLY_CONTEXT, CheckState.SUCCESS, "no changes to apply")


def _count(layers: list[LayerState] | tuple[LayerState, ...]) -> str:
    return f"{len(layers)} layer" + ("" if len(layers) == 1 else "s")
