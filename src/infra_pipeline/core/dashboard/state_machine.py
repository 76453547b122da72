"""The per-commit pipeline state machine of the spec, as enums and one pure transition function.

The spec's arrows are kept as drawn. A few more are needed in real use (re-planning, retrying an
apply, applying layer by layer, re-running a workflow, skipping the AI review); each carries a
comment saying why.

The state of a commit is not stored and stepped along these arrows: it is derived from the
dashboard's rows (`model.derive_state`), so it cannot drift from what the rows say.
The table is what decides whether new work may *start* where the commit stands (CI, a plan,
an apply): anything not in `TRANSITIONS` is refused with an `InfraError` that names the state
and the events it allows, which the CLI turns into a PR reply, before any lock is taken. How
work *ends* is recorded whatever the state; the arrows out of the running states describe the
states the derivation lands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from infra_pipeline.errors import InfraError


class State(StrEnum):
    """Where one commit's pipeline stands; the values are the spec's names."""

    CREATED = "Created"
    CI_RUNNING = "CI_Running"
    CI_PASSED = "CI_Passed"
    CI_FAILED = "CI_Failed"
    PLAN_RUNNING = "Plan_Running"
    PLAN_READY = "Plan_Ready"
    PLAN_DIFF = "Plan_Diff"
    PLAN_FAILED = "Plan_Failed"
    APPLY_WAITING = "Apply_Waiting"
    APPLY_RUNNING = "Apply_Running"
    APPLY_DONE = "Apply_Done"
    APPLY_FAILED = "Apply_Failed"
    REVIEW_RUNNING = "Review_Running"
    READY_MERGE = "Ready_Merge"


class Event(StrEnum):
    """What happened to the commit; the labels on the spec's arrows."""

    CI_STARTED = "ci_started"  # PR opened/updated
    CI_PASSED = "ci_passed"
    CI_FAILED = "ci_failed"
    PLAN_STARTED = "plan_started"  # auto plan, or `/plan`
    PLAN_NO_CHANGES = "plan_no_changes"
    PLAN_CHANGES = "plan_changes"
    PLAN_FAILED = "plan_failed"
    PLAN_REVIEWED = "plan_reviewed"
    APPLY_STARTED = "apply_started"  # `/apply`
    APPLY_SUCCEEDED = "apply_succeeded"
    APPLY_FAILED = "apply_failed"
    REVIEW_STARTED = "review_started"
    REVIEW_PASSED = "review_passed"
    REVIEW_SKIPPED = "review_skipped"
    NOTHING_TO_APPLY = "nothing_to_apply"


S, E = State, Event

# States a new `/plan` may start from once the previous plan (or apply) has finished.
_REPLANNABLE = (
    S.PLAN_READY,
    S.PLAN_DIFF,
    S.PLAN_FAILED,
    S.APPLY_FAILED,
    S.APPLY_DONE,
    # Beyond the list in the issue: Apply_Waiting is where a reviewed plan rests, so "re-plan
    # before applying" starts here more often than from Plan_Diff; Ready_Merge is where a plan
    # with no changes ends up, and re-planning it is how a user checks for drift.
    S.APPLY_WAITING,
    S.READY_MERGE,
)

# States in which nothing is running: "Re-run all jobs" in the Actions UI replays the pull
# request event for the same head commit, so CI may start again from any of them.
_IDLE = (
    S.CREATED,
    S.CI_PASSED,
    S.CI_FAILED,
    S.PLAN_READY,
    S.PLAN_DIFF,
    S.PLAN_FAILED,
    S.APPLY_WAITING,
    S.APPLY_DONE,
    S.APPLY_FAILED,
    S.READY_MERGE,
)

_TABLE: dict[tuple[State, Event], State] = {
    # The spec's arrows.
    (S.CREATED, E.CI_STARTED): S.CI_RUNNING,
    (S.CI_RUNNING, E.CI_PASSED): S.CI_PASSED,
    (S.CI_RUNNING, E.CI_FAILED): S.CI_FAILED,
    (S.CI_PASSED, E.PLAN_STARTED): S.PLAN_RUNNING,
    (S.PLAN_RUNNING, E.PLAN_NO_CHANGES): S.PLAN_READY,
    (S.PLAN_RUNNING, E.PLAN_CHANGES): S.PLAN_DIFF,
    (S.PLAN_RUNNING, E.PLAN_FAILED): S.PLAN_FAILED,
    (S.PLAN_DIFF, E.PLAN_REVIEWED): S.APPLY_WAITING,
    (S.APPLY_WAITING, E.APPLY_STARTED): S.APPLY_RUNNING,
    (S.APPLY_RUNNING, E.APPLY_SUCCEEDED): S.APPLY_DONE,
    (S.APPLY_RUNNING, E.APPLY_FAILED): S.APPLY_FAILED,
    (S.APPLY_DONE, E.REVIEW_STARTED): S.REVIEW_RUNNING,
    (S.REVIEW_RUNNING, E.REVIEW_PASSED): S.READY_MERGE,
    (S.PLAN_READY, E.NOTHING_TO_APPLY): S.READY_MERGE,
    # Retrying: a failed apply (a provider timeout, a lock held elsewhere) is retried as it is,
    # without a new plan, as long as the reviewed plan still matches (the apply checks that).
    (S.APPLY_FAILED, E.APPLY_STARTED): S.APPLY_RUNNING,
    # Layer by layer needs no arrow of its own: after `/apply platform` the derivation puts the
    # commit back in Apply_Waiting while `data-staging` still has changes to apply. Apply_Done
    # means every reviewed change is applied, so no apply starts from there.
    # The AI review is advisory: without an API key, or when the review run died, the commit is
    # still ready to merge (the AI Review row says why it was skipped).
    (S.REVIEW_RUNNING, E.REVIEW_SKIPPED): S.READY_MERGE,
}
# Re-planning: a new push is a new commit, but a new `/plan` on the same commit (after a fix to
# the live infrastructure, a failed plan, or an apply) must be possible without pushing.
_TABLE.update({(state, E.PLAN_STARTED): S.PLAN_RUNNING for state in _REPLANNABLE})
# Re-running the workflow (see `_IDLE`); the CI_Passed → Plan_Running path follows as usual.
_TABLE.update({(state, E.CI_STARTED): S.CI_RUNNING for state in _IDLE})

TRANSITIONS: Mapping[tuple[State, Event], State] = MappingProxyType(_TABLE)


def allowed_events(state: State) -> tuple[Event, ...]:
    """The events `state` accepts, in `Event` order."""
    return tuple(event for event in Event if (state, event) in TRANSITIONS)


def transition(state: State, event: Event) -> State:
    """The state after `event`; an `InfraError` when the spec (plus the documented extra
    arrows) has no such arrow."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        allowed = ", ".join(allowed_events(state)) or "none"
        raise InfraError(
            f"cannot handle {event} while the commit is in state {state} "
            f"(allowed events: {allowed})",
            _HINTS.get(state, "that step does not fit where this commit's pipeline stands"),
        ) from None


_HINTS: Mapping[State, str] = {
    S.CREATED: "the pipeline has not started for this commit: push, or re-run the workflow",
    S.CI_FAILED: "CI validation failed: fix the errors and push a new commit",
    S.CI_RUNNING: "CI validation is still running: wait for it to finish",
    S.PLAN_RUNNING: "a plan is still running: wait for it to finish",
    S.APPLY_RUNNING: "an apply is still running: wait for it to finish",
    S.REVIEW_RUNNING: "the AI review is still running: wait for it to finish",
    S.PLAN_FAILED: "the plan failed: fix it and push, or comment `/plan` to retry",
    S.PLAN_READY: "the plan has no changes: there is nothing to apply",
    S.PLAN_DIFF: "review the plan, then comment `/apply`",
    S.APPLY_DONE: "every reviewed change is applied: comment `/plan` to check again",
    S.READY_MERGE: "nothing is left to do but merge; comment `/plan` to check again",
}
