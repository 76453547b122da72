"""After a push to the default branch: keep `main` and the live infrastructure the same.

Scan every layer in parallel, apply the drifted ones one at a time in `order` (each from the
planfile its scan produced), run the smoke suite, then report: a terminal table, the job
summary, one comment on the merged pull request, `infra/apply` on the commit, a Deployment per
applied layer, and the drift issues brought up to date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from ..config import Config
from ..core.github_models import Comment, PullRequest, StatusState
from ..core.layer_graph import render_mermaid
from ..core.reconcile import LayerReport, Verdict
from ..core.summary import (
    E2EResult,
    Overall,
    ReconcileRun,
    Trigger,
    overall,
    render_merge_summary,
    status_description,
    summary_marker,
)
from ..errors import ExitCode, InfraError
from .dependencies import layer_graph
from .e2e import run_e2e
from .e2e import summary as e2e_line
from .job import Job
from .reconcile import audit_applies, print_reports, reconcile, sync_drift_issues
from .verify import scan

APPLY_CONTEXT = "infra/apply"


class MergedPullApi(Protocol):
    """The part of `adapters.github.client.GitHub` the merged pull request's summary uses."""

    def list_pulls_for_commit(self, sha: str) -> list[PullRequest]: ...
    def list_issue_comments(self, number: int) -> list[Comment]: ...
    def create_issue_comment(self, number: int, body: str) -> Comment: ...
    def update_issue_comment(self, comment_id: int, body: str) -> Comment: ...


def run_after_merge(job: Job, sha: str) -> int:
    """The push-to-default-branch job; returns the exit code (non-zero when a scan or an apply
    failed, or the smoke suite did)."""
    config, github, env, console = job.config, job.github, job.env, job.console
    run_url = job.actions.run_url
    origin = ReconcileRun(sha, run_url, job.clock(), Trigger.AFTER_MERGE)
    target = run_url or None
    github.create_status(sha, APPLY_CONTEXT, "pending", "scanning every layer for drift", target)
    try:
        runs = scan(config, [], env=env, console=console).runs
        result = reconcile(job, runs, origin, apply=True)
        e2e = _smoke(config, result.reports, env=env, console=console)
    except InfraError as exc:
        github.create_status(sha, APPLY_CONTEXT, "error", exc.message, target)
        raise

    pull = merged_pull(github, sha)
    branch = pull.base_ref if pull else job.actions.ref_name or "the default branch"
    markdown = render_merge_summary(result.reports, origin, e2e=e2e, branch=branch)
    print_reports(console, result.reports, "After merge")
    if e2e is not None:
        console.print(f"e2e {escape(e2e.suite)}: {escape(e2e.line)}", highlight=False)
    job.actions.append_summary(markdown)
    job.actions.append_summary(apply_graph(config, result.reports))
    audit_applies(
        job, result, origin, command="apply-after-merge", pr=pull.number if pull else None
    )
    if pull is not None:
        post_summary(github, pull.number, markdown, marker=summary_marker(sha))
        console.print(f"summary posted on #{pull.number}", highlight=False)
    else:
        console.print(f"no merged pull request has commit {sha[:7]}: summary not posted")

    code = exit_code(result.reports, e2e)
    state: StatusState = "success" if code == ExitCode.OK else "failure"
    description = status_description(result.reports, e2e)
    github.create_status(sha, APPLY_CONTEXT, state, description, target)
    sync_drift_issues(config, github, result.reports, origin, console=console)
    return code


def _smoke(
    config: Config, reports: Sequence[LayerReport], *, env: Mapping[str, str], console: Console
) -> E2EResult | None:
    """The after-apply suite, on every push (the spec's verify + apply + e2e), unless a layer
    failed: a half-applied rollout is already known to be broken."""
    suite = config.smoke_suite
    if suite is None:
        return None
    failed = [r.layer for r in reports if r.verdict is Verdict.FAILED]
    if failed:
        return E2EResult(suite, None, f"not run: `{failed[0]}` failed")
    try:
        report = run_e2e(config, suite, env=env, console=console)
    except InfraError as exc:
        return E2EResult(suite, False, exc.message)
    return E2EResult(suite, report.ok, e2e_line(report))


def exit_code(reports: Sequence[LayerReport], e2e: E2EResult | None) -> ExitCode:
    """Failure when a scan or apply failed (later layers are then skipped) or the suite failed.
    Drift left on purpose (`auto_apply: false`, a PR's lock) is not a failure."""
    return ExitCode.FAILURE if overall(reports, e2e) is Overall.FAILED else ExitCode.OK


def merged_pull(github: MergedPullApi, sha: str) -> PullRequest | None:
    """The pull request that was merged as `sha` (the newest, should several claim it)."""
    merged = [p for p in github.list_pulls_for_commit(sha) if p.merged]
    return max(merged, key=lambda p: p.number) if merged else None


def post_summary(github: MergedPullApi, number: int, markdown: str, *, marker: str) -> None:
    """One summary per commit: a re-run updates the comment it posted before."""
    for comment in github.list_issue_comments(number):
        if comment.is_bot and marker in comment.body:
            github.update_issue_comment(comment.id, markdown)
            return
    github.create_issue_comment(number, markdown)


def apply_graph(config: Config, reports: Sequence[LayerReport]) -> str:
    """The job summary's picture of the run: the layers' dependency graph (GitHub renders
    Mermaid), each layer marked with what became of it."""
    status = {r.layer: f"{r.verdict.icon} {r.verdict.value}" for r in reports}
    return "### Layers and their dependencies\n\n" + render_mermaid(layer_graph(config), status)
