"""What an `/apply` tells the pull request: a short new comment (so people are notified) and
the job summary with every layer's whole output. Pure: runs and the dashboard in, Markdown out.

The comment names each layer's outcome with Terraform's own closing line ("Apply complete!
Resources: 2 added, 0 changed, 0 destroyed.") or its error, folds the end of the output, and
says what is still to apply when only some layers were applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from infra_pipeline.core import md
from infra_pipeline.core.custom_steps import applied_then_blocked
from infra_pipeline.core.dashboard.model import Dashboard, Status
from infra_pipeline.core.dashboard.plan_view import diagnostic_lines, summary
from infra_pipeline.core.plan_text import clean, trim
from infra_pipeline.models import LayerRun, Outcome

OUTPUT_IN_COMMENT: Final = 6_000  # characters of each layer's output folded in the comment
OUTPUT_IN_SUMMARY: Final = 200_000  # per layer, in the job summary


def apply_comment(runs: Sequence[LayerRun], m: Dashboard, run_url: str) -> str:
    """The comment an `/apply` posts when it ends, applied, failed or partly both."""
    applied = [r.layer for r in runs if r.outcome is Outcome.OK]
    failed = [r.layer for r in runs if r.outcome is Outcome.FAILED]
    names = ", ".join(md.code(r.layer) for r in runs)
    if failed:
        head = f"### {Status.FAILED.icon} `/apply` of {names} failed in {md.code(failed[0])}"
    else:
        head = f"### {Status.OK.icon} `/apply` of {names}: applied"
    out = [head, "", f"Commit `{m.sha7}` · [Full log]({run_url})", ""]
    out += ["| Layer | Result | Terraform says |", "|:---|:---:|:---|"]
    for run in runs:
        out.append(f"| {md.code(run.layer)} | {_result(run)} | {md.cell(_says(run))} |")
    out.append("")
    for run in runs:
        if run.outcome is Outcome.FAILED:
            out += _failure(run)
    pending = [layer for layer in m.pending_changes if layer.name not in applied]
    if pending and not failed:
        rest = ", ".join(
            f"{md.code(layer.name)} ({summary(layer.record)})"
            for layer in pending
            if layer.record is not None
        )
        out += [f"Still to apply: {rest}. Comment `/apply` when they are reviewed.", ""]
    for run in runs:
        if run.log.strip() and run.outcome is not Outcome.SKIPPED:
            text = trim(clean(run.log).strip(), OUTPUT_IN_COMMENT, "the job summary")
            out += [md.details(f"Output of {run.layer}", md.fenced(text, "text")), ""]
    return "\n".join(out)


def _result(run: LayerRun) -> str:
    if run.outcome is Outcome.OK:
        return f"{Status.OK.icon} applied"
    if run.outcome is Outcome.FAILED:
        return f"{Status.FAILED.icon} failed"
    return f"{Status.SKIPPED.icon} not applied"


def _says(run: LayerRun) -> str:
    if run.outcome is Outcome.OK:
        return run.summary or "No changes to apply."
    errors = [d for d in run.diagnostics if d.severity == "error"]
    if errors:
        first = errors[0]
        return f"Error: {first.summary}" + (f" ({first.location})" if first.location else "")
    return (run.error.splitlines() or ["-"])[0]


def _failure(run: LayerRun) -> list[str]:
    out = []
    for diag in (d for d in run.diagnostics if d.severity == "error"):
        out += [*diagnostic_lines(diag), ""]
    if run.plan is not None:  # the apply itself ran, so it may have changed things
        out += [stays_locked(run), ""]
    return out


def stays_locked(run: LayerRun) -> str:
    """Why a layer whose apply ran and failed keeps its lock, and what to do next."""
    if applied_then_blocked(run):
        return (
            f"🔒 {md.code(run.layer)} stays locked by this pull request; its change is live "
            "(Terraform applied it, then a `post_apply` step failed). Once what the step "
            f"reports is dealt with, `/apply {run.layer}` again (with nothing left to apply "
            f"it is marked applied) or `/unlock {run.layer}`."
        )
    return (
        f"🔒 {md.code(run.layer)} stays locked by this pull request: its state may be "
        "partly applied. Comment `/plan` to see what is left, then `/apply` again "
        f"(or `/unlock {run.layer}`)."
    )


def apply_summary(runs: Sequence[LayerRun]) -> str:
    """The job summary's part: every applied layer's whole output, once."""
    parts = []
    for run in runs:
        if run.outcome is Outcome.SKIPPED:
            continue
        text = trim(clean(run.log).strip() or run.error, OUTPUT_IN_SUMMARY, "the job log")
        parts += [f"### Apply output of {run.layer}", "", md.fenced(text, "text"), ""]
    return "\n".join(parts)
