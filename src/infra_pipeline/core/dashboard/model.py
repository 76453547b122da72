"""The typed, immutable model of one commit's dashboard.

Frozen records only; the steps that change a model live in `core/dashboard/steps.py`, which also
re-exports everything here so callers import from one place.

The pipeline's `State` is not stored: it is derived from the rows and the per-layer facts
(`derive_state`). A stored state next to the rows could disagree with them (a "ready to merge"
with a layer still to apply, a state a step refused to leave while a lock was held); a derived
one cannot, whatever order users act in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Final

from msgspec import Struct

from infra_pipeline.config import _LAYER_NAME
from infra_pipeline.core.dashboard.state_machine import State
from infra_pipeline.core.policy_check import Approval, PolicyResult, unapproved
from infra_pipeline.models import Diagnostic, Outcome, PlanCounts, StateLock, StepResult

_SHA: Final = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REPO: Final = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_URL: Final = re.compile(r"https?://[^\s()<>\[\]]+")


class Status(StrEnum):
    """A row's status, shown as the icon: one icon, one meaning (`LEGEND` says each)."""

    PENDING = "pending"  # not run yet
    RUNNING = "running"
    OK = "ok"
    WARNING = "warning"  # the plan destroys or replaces resources
    DRIFT = "drift"  # the plan found resources changed outside Terraform
    FAILED = "failed"
    LOCKED = "locked"  # not run: another holder has the layer's Terraform state lock
    STALE = "stale"  # the run stopped without reporting: the outcome is unknown
    SKIPPED = "skipped"  # deliberately not run; the row says why
    UNTOUCHED = "untouched"  # a layer this commit does not touch: folded into one row

    @property
    def icon(self) -> str:
        return _ICONS[self]

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_ICONS: Final = {
    Status.PENDING: "⬜",
    Status.RUNNING: "⏳",
    Status.OK: "✅",
    Status.WARNING: "⚠️",
    Status.DRIFT: "🔶",
    Status.FAILED: "❌",
    Status.LOCKED: "🔒",
    Status.STALE: "❔",
    Status.SKIPPED: "⏭️",
    Status.UNTOUCHED: "➖",
}
_MEANINGS: Final = {
    Status.PENDING: "not run yet",
    Status.RUNNING: "running",
    Status.OK: "passed; a plan with only adds and changes, or none",
    Status.WARNING: "the plan destroys or replaces resources: read them before `/apply`",
    Status.DRIFT: "the plan found resources changed outside Terraform (drift)",
    Status.FAILED: "failed: the error is shown, the log is linked",
    Status.LOCKED: "not run: another holder has the layer's Terraform state lock",
    Status.STALE: "the run stopped without reporting: its outcome is unknown",
    Status.SKIPPED: "deliberately not run; the row says why",
    Status.UNTOUCHED: "layers this commit does not touch, folded into one row",
}


def legend() -> list[tuple[str, str]]:
    """Every status icon with its one meaning, for `/help` and the docs."""
    return [(status.icon, status.meaning) for status in Status]


class Stage(StrEnum):
    """The rows that are not per layer; the values are the `Dashboard` field names."""

    CI = "ci"
    APPLY = "apply"
    REVIEW = "review"
    HEALTH = "health"
    E2E = "e2e"
    MERGE_QUEUE = "merge_queue"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: Final = {
    Stage.CI: "CI Validate",
    Stage.APPLY: "Apply",
    Stage.REVIEW: "AI Review",
    Stage.HEALTH: "Health",
    Stage.E2E: "E2E",
    Stage.MERGE_QUEUE: "Merge queue",
}


class Row(Struct, frozen=True):
    status: Status = Status.PENDING
    run_id: int | None = None  # the Actions run that reported it (the Output link)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""  # short: "+2 ~1 -0", "run stopped without reporting", a skip reason


class PlanRecord(Struct, frozen=True):
    """A successful plan of one layer: what `/apply` checks before applying."""

    head_sha: str
    base_sha: str
    fingerprint: str
    counts: PlanCounts
    has_changes: bool
    destroys: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    more_destructive: int = 0  # destroyed or replaced beyond the addresses listed
    # Added and changed addresses, the first few of each (`counts` has how many in all).
    creates: tuple[str, ...] = ()
    updates: tuple[str, ...] = ()
    drift: int = 0  # resources changed outside Terraform
    text: str = ""  # the plan as shown (long plans keep their head and tail)
    # What `/apply` checks beyond the visible (core/reviewed.py): sha256 of the plan's view
    # (core/dashboard/plan_view.py) as rendered at review time, the keyed seal of the plan and its
    # sensitive values (core/plan_reader.py; "" without INFRA_PLAN_KEY), and whether it has any.
    digest: str = ""
    seal: str = ""
    sensitive: bool = False

    @property
    def destructive(self) -> int:
        return len(self.destroys) + len(self.replaces) + self.more_destructive


class LayerState(Struct, frozen=True):
    name: str
    plan: Row = Row()
    record: PlanRecord | None = None  # cleared when a new plan starts
    applied: Outcome | None = None  # of the last apply of this layer since its last plan
    lock: str = ""  # e.g. "locked by #12"
    # Terraform's own errors of a failed plan or apply (files relative to the repository).
    diagnostics: tuple[Diagnostic, ...] = ()
    applied_summary: str = ""  # "Apply complete! Resources: 2 added, 0 changed, 0 destroyed."
    policy: PolicyResult | None = None  # the `policies` check of `record`; cleared with it
    # The custom steps of its last plan, then of its last apply (each with its output tail).
    steps: tuple[StepResult, ...] = ()
    # The Terraform state lock its running plan or apply waits for (`lock_timeout`), shown on
    # that row until the layer's result replaces it.
    waiting: StateLock | None = None

    def waiting_in(self, m: Dashboard) -> StateLock | None:
        """The lock this layer waits for, while its plan or the apply is still running."""
        running = self.plan.status is Status.RUNNING or m.apply.status is Status.RUNNING
        return self.waiting if running else None

    @property
    def plan_failed(self) -> bool:
        failed = (Status.FAILED, Status.STALE, Status.LOCKED)
        return self.record is None and self.plan.status in failed

    @property
    def pending_changes(self) -> bool:
        return self.record is not None and self.record.has_changes and self.applied != Outcome.OK


class Revision(Struct, frozen=True):
    """Who wrote the comment last: `Board` uses these to notice a write another job lost."""

    writer: str
    seq: int


class Dashboard(Struct, frozen=True):
    repo: str
    pr: int
    head_sha: str
    base_sha: str
    server_url: str
    layers: tuple[LayerState, ...]
    ci: Row = Row()
    apply: Row = Row()
    review: Row = Row()
    health: Row | None = None  # shown once it ran
    e2e: Row | None = None
    merge_queue: Row | None = None  # the PR's last check in GitHub's merge queue, once it ran
    superseded_by: str | None = None
    revisions: tuple[Revision, ...] = ()
    # `/approve_policies` on this commit (a new commit has a new dashboard, so none).
    policy_approval: Approval | None = None

    def __post_init__(self) -> None:
        # Also what `parse` relies on to reject a hand-edited comment.
        for sha in (self.head_sha, self.base_sha, self.superseded_by or self.head_sha):
            if not _SHA.fullmatch(sha):
                raise ValueError(f"not a commit SHA: {sha!r}")
        if not _REPO.fullmatch(self.repo) or self.pr <= 0:
            raise ValueError(f"not a pull request: {self.repo}#{self.pr}")
        if not _URL.fullmatch(self.server_url):
            raise ValueError(f"not a server URL: {self.server_url!r}")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names) or not all(re.match(_LAYER_NAME, n) for n in names):
            raise ValueError(f"bad layer names: {names}")

    @property
    def sha7(self) -> str:
        return self.head_sha[:7]

    def layer(self, name: str) -> LayerState:
        for layer in self.layers:
            if layer.name == name:
                return layer
        known = ", ".join(layer.name for layer in self.layers)
        raise ValueError(f"no layer {name!r} on this dashboard (layers: {known})")

    def row(self, stage: Stage) -> Row | None:
        row: Row | None = getattr(self, stage.value)
        return row

    def run_url(self, run_id: int) -> str:
        return f"{self.server_url.rstrip('/')}/{self.repo}/actions/runs/{run_id}"

    @property
    def pending_changes(self) -> tuple[LayerState, ...]:
        """Layers whose reviewed plan has changes not applied yet."""
        return tuple(layer for layer in self.layers if layer.pending_changes)

    @property
    def state(self) -> State:
        return derive_state(self)

    @property
    def policy_results(self) -> tuple[PolicyResult, ...]:
        """The policy check of each layer that has one (none without `policies`)."""
        return tuple(layer.policy for layer in self.layers if layer.policy is not None)

    def policy_blocked(self, layers: Iterable[str] | None = None) -> tuple[str, ...]:
        """The policy failures (of `layers`, when given) no `/approve_policies` covers."""
        names = None if layers is None else tuple(layers)
        return unapproved(self.policy_results, self.policy_approval, names)


def derive_state(m: Dashboard) -> State:
    """Where the commit's pipeline stands, read off its rows.

    Something running wins (CI, then plans, then the apply: only one of them runs at a time
    in practice). Then a failed or dead CI Validate, since nothing else counts for code that
    does not validate. Then the layers: a failed apply (its state may be partial), a failed
    plan, changes still to apply (`Apply_Waiting` once some layer of this commit was applied:
    the reviewer has signed off and the rest waits for its `/apply`), the review that follows
    an apply, and last `Ready_Merge`, which therefore never shows while a layer has changes to
    apply or an apply or plan failed.
    """
    layers = m.layers
    if m.ci.status is Status.RUNNING:
        return State.CI_RUNNING
    if any(layer.plan.status is Status.RUNNING for layer in layers):
        return State.PLAN_RUNNING
    if m.apply.status is Status.RUNNING:
        return State.APPLY_RUNNING
    if m.ci.status in (Status.FAILED, Status.STALE):
        return State.CI_FAILED
    if all(layer.plan == Row() and layer.record is None for layer in layers):
        # CI never reported (an untouched row) vs passed, or skipped with a reason (a local
        # preview): only the first still waits for validation.
        return State.CREATED if m.ci == Row() else State.CI_PASSED
    if any(layer.applied is Outcome.FAILED for layer in layers):
        return State.APPLY_FAILED
    if any(layer.plan_failed for layer in layers):
        return State.PLAN_FAILED
    applied = any(layer.applied is Outcome.OK for layer in layers)
    if m.pending_changes:
        return State.APPLY_WAITING if applied else State.PLAN_DIFF
    if m.review.status is Status.RUNNING:
        return State.REVIEW_RUNNING
    if applied and m.review == Row():  # `finish_apply` clears it: the review is due
        return State.APPLY_DONE
    return State.READY_MERGE


def new_dashboard(
    *, repo: str, pr: int, head_sha: str, base_sha: str, layers: Iterable[str], server_url: str
) -> Dashboard:
    """An empty dashboard in state Created, with one plan row per layer in the given order."""
    return Dashboard(
        repo=repo,
        pr=pr,
        head_sha=head_sha,
        base_sha=base_sha,
        server_url=server_url,
        layers=tuple(LayerState(name) for name in layers),
    )
