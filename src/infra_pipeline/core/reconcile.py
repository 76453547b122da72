"""Bringing the live infrastructure back to `main`: which drifted layers to apply, and what
became of every layer. Pure: the scan, the apply runs and the lock answers are passed in.

The rules, along the layers' dependency graph:
- a layer whose scan failed is unknown; the drifted layers built on it are not applied either
  (with `on_failure: stop`, every drifted layer after it), since we cannot tell what the
  broken one is;
- a drifted layer with `auto_apply: false` (or any drifted layer when the run only reports)
  is reported as drifted, not applied;
- a drifted layer whose lock an open pull request holds is skipped: that PR has applied its
  own, unmerged version of the layer, and applying `main` would undo it. The PR's merge (a new
  push to `main`) or the next scheduled scan reconciles it. Later layers still apply: their
  plans were made against the live state, whichever version produced it.
- a layer whose Terraform state lock is held (another job is planning or applying it, or a
  stale lock is left) is reported as locked, with the holder, and is not "broken": the same
  reasoning as a PR's lock applies, so the other layers are scanned and applied as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from msgspec import Struct

from ..config import Layer, OnFailure
from ..models import LayerRun, Outcome, PlanResult
from .layer_graph import LayerGraph


class Verdict(StrEnum):
    """What became of one layer in a reconcile run."""

    IN_SYNC = "in sync"
    DRIFTED = "drifted"  # reported, not applied (by choice)
    APPLIED = "applied"
    SKIPPED = "skipped"  # drifted, not applied: an earlier layer failed, or a PR holds it
    FAILED = "failed"  # the scan or the apply failed
    LOCKED = "state locked"  # not scanned: another holder has the layer's state lock

    @property
    def icon(self) -> str:
        return _ICONS[self]


_ICONS = {
    Verdict.IN_SYNC: "✅",
    Verdict.DRIFTED: "🔶",
    Verdict.APPLIED: "🚀",
    Verdict.SKIPPED: "⏭️",
    Verdict.FAILED: "❌",
    Verdict.LOCKED: "🔒",
}


class Held(Struct, frozen=True):
    """Why a drifted layer is not applied, and how it is reported."""

    verdict: Verdict
    reason: str


class LayerReport(Struct, frozen=True):
    layer: str
    verdict: Verdict
    plan: PlanResult | None  # what the scan found (None when the scan failed)
    detail: str = ""  # why it was not applied, or the first line of the error
    duration: float = 0.0  # of the apply, else of the scan
    error: str = ""  # the whole error of a failed scan or apply

    @property
    def short_counts(self) -> str:
        """What the scan found, in the dashboard's words ("1 to add, 1 to replace"), or `-`
        when it found nothing to change (or failed)."""
        if self.plan is None or not self.plan.has_changes:
            return "-"
        return self.plan.counts.words() if self.plan.counts.total else "only outputs change"

    @property
    def in_sync(self) -> bool:
        """Live and code agree now (found in sync, or applied)."""
        return self.verdict in (Verdict.IN_SYNC, Verdict.APPLIED)

    @property
    def still_drifted(self) -> bool:
        """The scan found drift and nothing repaired it (not applied, or the apply failed)."""
        return not self.in_sync and self.plan is not None and self.plan.has_changes


class ApplyChoice(Struct, frozen=True):
    candidates: tuple[Layer, ...]  # drifted layers to lock and apply, in order
    held: Mapping[str, Held]


def choose_applies(
    layers: Sequence[Layer],
    scan: Sequence[LayerRun],
    *,
    apply: bool,
    graph: LayerGraph,
    on_failure: OnFailure = OnFailure.STOP,
) -> ApplyChoice:
    """The drifted layers to apply (`apply` False: none) and why the others are held back.

    A layer whose scan failed is unknown, so the drifted layers built on it are held too: with
    `on_failure: stop` every drifted layer after it in the graph's order, with
    `skip_dependents` only the layers that depend on it."""
    by_name = {run.layer: run for run in scan}
    config_layers = {layer.name: layer for layer in layers}
    # A layer whose state lock is held is not broken: only its own apply waits (see above).
    broken = [
        name for name, run in by_name.items() if run.outcome is Outcome.FAILED and run.lock is None
    ]
    position = {name: i for i, name in enumerate(graph.ordered())}
    candidates: list[Layer] = []
    held: dict[str, Held] = {}
    for name in graph.ordered(n for n in by_name if n in config_layers):
        layer = config_layers[name]
        run = by_name[name]
        if run.outcome is not Outcome.CHANGES:
            continue
        if on_failure is OnFailure.STOP:
            blocker = next((b for b in broken if position[b] < position[name]), None)
        else:
            blocker = next((b for b in broken if b in graph.ancestors(name)), None)
        if blocker is not None:
            held[name] = Held(Verdict.SKIPPED, f"not applied: the scan of `{blocker}` failed first")
        elif not apply:
            held[name] = Held(Verdict.DRIFTED, "reported only: drift.auto_apply is false")
        elif not layer.auto_apply:
            held[name] = Held(Verdict.DRIFTED, "reported only: auto_apply is false")
        else:
            candidates.append(layer)
    return ApplyChoice(tuple(candidates), held)


def layer_reports(
    scan: Sequence[LayerRun], held: Mapping[str, Held], applied: Sequence[LayerRun]
) -> list[LayerReport]:
    """One report per scanned layer, in scan order, folding in the holds and the applies."""
    applies = {run.layer: run for run in applied}
    reports = []
    for run in scan:
        if run.lock is not None:
            detail = f"not scanned: the state is locked, {run.lock.describe()}"
            report = _report(run, Verdict.LOCKED, None, detail)
        elif run.outcome is Outcome.FAILED:
            report = _report(run, Verdict.FAILED, None, f"scan failed: {_first(run)}", run.error)
        elif run.outcome is not Outcome.CHANGES:
            report = _report(run, Verdict.IN_SYNC, run.plan)
        elif run.layer in held:
            report = _report(run, held[run.layer].verdict, run.plan, held[run.layer].reason)
        elif (done := applies.get(run.layer)) is not None:
            verdict = _APPLY_VERDICT.get(done.outcome, Verdict.FAILED)
            error = done.error if verdict is Verdict.FAILED else ""
            report = _report(done, verdict, run.plan, _first(done), error)
        else:
            report = _report(run, Verdict.DRIFTED, run.plan)
        reports.append(report)
    return reports


_APPLY_VERDICT = {Outcome.OK: Verdict.APPLIED, Outcome.SKIPPED: Verdict.SKIPPED}


def _report(
    run: LayerRun, verdict: Verdict, plan: PlanResult | None, detail: str = "", error: str = ""
) -> LayerReport:
    return LayerReport(run.layer, verdict, plan, detail, run.duration, error)


def _first(run: LayerRun) -> str:
    return run.error.strip().splitlines()[0] if run.error.strip() else ""
