"""Markdown for what a reconcile run found: the merged PR's summary comment (also the job
summary) and the drift issues' bodies and comments. Pure: rendering is separate from posting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from msgspec import Struct

from ..models import ChangeKind, PlanResult
from . import md
from .plan_text import clean, fence_for, to_diff, trim
from .reconcile import LayerReport, Verdict

SUMMARY_MARKER = "<!-- infra-after-merge:{sha} -->"
ISSUE_MARKER = "<!-- infra-drift:{layer} -->"
# GitHub refuses bodies over 65536 characters; the plan text is cut well before that.
PLAN_TEXT_LIMIT = 40_000
RESOURCES_SHOWN = 50
RESOURCES_IN_CELL = 3


class Trigger(StrEnum):
    """What ran the scan, as a reader of an issue comment would say it."""

    AFTER_MERGE = "the post-merge run"
    SCHEDULED = "the scheduled drift scan"


class ReconcileRun(Struct, frozen=True):
    """Where and when a reconcile run happened, for links and timestamps."""

    sha: str
    run_url: str
    when: datetime
    trigger: Trigger

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    def where(self, link_text: str = "run") -> str:
        """`[run](url), 2025-01-02 06:17 UTC, commit `abc1234``, leaving out what is unknown."""
        parts = [f"[{link_text}]({self.run_url})"] if self.run_url else []
        parts.append(self.when.strftime("%Y-%m-%d %H:%M UTC"))
        if self.sha:
            parts.append(f"commit `{self.short_sha}`")
        return ", ".join(parts)


class E2EResult(Struct, frozen=True):
    """The after-apply suite's result, as the summary shows it."""

    suite: str
    ok: bool | None  # None: not run
    line: str  # one line, e.g. "smoke passed: 12 passed in 34s" or "not run: `platform` failed"

    @property
    def icon(self) -> str:
        return "⏭️" if self.ok is None else "✅" if self.ok else "❌"


def summary_marker(sha: str) -> str:
    return SUMMARY_MARKER.format(sha=sha)


def issue_title(layer: str) -> str:
    return f"Drift detected: `{layer}`"


def issue_marker(layer: str) -> str:
    return ISSUE_MARKER.format(layer=layer)


class Overall(StrEnum):
    MATCHES = "live infrastructure matches the code"
    DIFFERS = "live infrastructure still differs from the code"
    FAILED = "failed"


def overall(reports: Sequence[LayerReport], e2e: E2EResult | None) -> Overall:
    """Did `main` and the live infrastructure end up the same?"""
    if any(r.verdict is Verdict.FAILED for r in reports) or (e2e is not None and e2e.ok is False):
        return Overall.FAILED
    if any(r.still_drifted or r.verdict is Verdict.LOCKED for r in reports):
        return Overall.DIFFERS  # a locked layer was not scanned: it may differ
    return Overall.MATCHES


def status_description(reports: Sequence[LayerReport], e2e: E2EResult | None) -> str:
    """A commit status line: the overall result, then how many layers ended which way."""
    tally = {v: sum(1 for r in reports if r.verdict is v) for v in Verdict}
    parts = [
        f"{tally[v]} {v.value}"
        for v in (Verdict.APPLIED, Verdict.DRIFTED, Verdict.SKIPPED, Verdict.LOCKED, Verdict.FAILED)
        if tally[v]
    ]
    if e2e is not None and e2e.ok is False:
        parts.append(f"e2e {e2e.suite} failed")
    head = overall(reports, e2e).value
    return head[0].upper() + head[1:] + (f" ({', '.join(parts)})" if parts else "")


_OVERALL_ICON = {Overall.MATCHES: "✅", Overall.DIFFERS: "⚠️", Overall.FAILED: "❌"}


def headline(reports: Sequence[LayerReport], e2e: E2EResult | None) -> str:
    return f"{_OVERALL_ICON[overall(reports, e2e)]} {status_description(reports, e2e)}"


def render_merge_summary(
    reports: Sequence[LayerReport], origin: ReconcileRun, *, e2e: E2EResult | None, branch: str
) -> str:
    """The merged PR's comment and the job summary: one row per layer, the e2e result, errors."""
    title = f"## 🔁 After merge: `{origin.short_sha}` on `{md.cell(branch)}`"
    return _run_summary(summary_marker(origin.sha), title, reports, origin, e2e)


def render_scan_summary(reports: Sequence[LayerReport], origin: ReconcileRun) -> str:
    """The scheduled scan's job summary."""
    return _run_summary("", "## 🔍 Drift scan", reports, origin, None)


def _run_summary(
    marker: str,
    title: str,
    reports: Sequence[LayerReport],
    origin: ReconcileRun,
    e2e: E2EResult | None,
) -> str:
    lines = [marker, title] if marker else [title]
    lines += ["", f"**{headline(reports, e2e)}** · {origin.where('Run log')}", "", _table(reports)]
    if e2e is not None:
        lines += ["", f"**E2E** `{md.cell(e2e.suite)}`: {e2e.icon} {md.cell(e2e.line)}"]
    for report in reports:
        if report.error:
            lines += ["", md.details(f"{report.layer}: error", md.fenced(report.error))]
    return "\n".join(lines) + "\n"


def _table(reports: Sequence[LayerReport]) -> str:
    rows = ["| Layer | Result | Changes | Detail |", "|:---|:---|:---|:---|"]
    for r in reports:
        rows.append(
            f"| `{md.cell(r.layer)}` | {r.verdict.icon} {r.verdict.value} | {r.short_counts} "
            f"| {md.cell(r.detail or _resources(r))} |"
        )
    return "\n".join(rows)


def _resources(report: LayerReport) -> str:
    if report.plan is None or not report.plan.resource_changes:
        return ""
    changes = report.plan.resource_changes
    shown = ", ".join(c.address for c in changes[:RESOURCES_IN_CELL])
    more = len(changes) - RESOURCES_IN_CELL
    return shown + (f" (+{more} more)" if more > 0 else "")


def render_issue_body(report: LayerReport, origin: ReconcileRun) -> str:
    """The drift issue of one layer, rewritten in place by every scan that still finds drift."""
    lines = [
        issue_marker(report.layer),
        f"{origin.trigger.value.capitalize()} ({origin.where()}) found that the live state of "
        f"`{report.layer}` differs from the code on the default branch.",
        "",
        f"**Result**: {report.verdict.icon} {report.verdict.value}"
        + (f": {md.cell(report.detail)}" if report.detail else ""),
    ]
    if report.plan is not None:
        lines += ["", f"**Changes**: {report.short_counts}", "", _changes(report.plan)]
        text = trim(clean(report.plan.text.strip()), PLAN_TEXT_LIMIT, "the run log")
        if text:
            diff = to_diff(text)
            block = "\n".join([f"{fence_for(diff)}diff", *diff, fence_for(diff)])
            lines += ["", md.details(f"The plan of {report.layer}", block)]
    lines += [
        "",
        "To repair it, merge a change that makes the code match the live state, or apply the "
        f"code (`infra apply {report.layer}`). A scan that finds the layer in sync again closes "
        "this issue.",
    ]
    return "\n".join(lines) + "\n"


def _changes(plan: PlanResult) -> str:
    outside = {c.address for c in plan.drift}
    rows = ["| Action | Resource | Why |", "|:---|:---|:---|"]
    for change in plan.resource_changes[:RESOURCES_SHOWN]:
        why = "changed outside Terraform" if change.address in outside else "code or inputs"
        rows.append(f"| {_verb(change.kind)} | `{md.cell(change.address)}` | {why} |")
    if len(plan.resource_changes) > RESOURCES_SHOWN:
        rows.append(f"| | … and {len(plan.resource_changes) - RESOURCES_SHOWN} more | |")
    for output in plan.output_changes[:RESOURCES_SHOWN]:
        rows.append(f"| {_verb(output.kind)} | output `{md.cell(output.name)}` | |")
    return "\n".join(rows)


def _verb(kind: ChangeKind) -> str:
    """The dashboard's words for an action; destroys and replaces flagged as there."""
    verb = _VERBS.get(kind, kind.value)
    return f"⚠️ {verb}" if kind in (ChangeKind.DELETE, ChangeKind.REPLACE) else verb


_VERBS = {
    ChangeKind.CREATE: "add",
    ChangeKind.UPDATE: "change",
    ChangeKind.DELETE: "destroy",
    ChangeKind.REPLACE: "replace",
}


def render_close_comment(report: LayerReport, origin: ReconcileRun) -> str:
    how = "applied the code" if report.verdict is Verdict.APPLIED else "found it in sync"
    return f"✅ `{report.layer}` is back in sync: {origin.trigger.value} ({origin.where()}) {how}."


def render_reopen_comment(report: LayerReport, origin: ReconcileRun) -> str:
    return (
        f"🔶 Drift is back in `{report.layer}` ({report.short_counts}), found by "
        f"{origin.trigger.value} ({origin.where()}). Reopened; the description has the latest plan."
    )


def render_duplicate_comment(keep: int) -> str:
    return f"Duplicate of #{keep}: one issue per drifted layer is kept open. Closing this one."
