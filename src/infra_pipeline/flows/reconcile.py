"""The edge half of `core.reconcile`, shared by the post-merge job and the scheduled scan:
take the layer locks, apply the scan's planfiles in order while recording Deployments, keep
the drift issues, print the result.

Applies on the default branch hold the same layer locks as a PR's `/apply` (holder "PR" 0,
`locks.MAIN`), so they never touch a layer a pull request has applied and not yet merged. Two
default-branch runs never overlap because ci.yml puts every push, schedule and dispatch run in
one `concurrency` group (`infra-default-branch`, never cancelled); the locks cannot tell two
default-branch runs apart, and a lock left by a crashed run is taken over by the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

from msgspec import Struct
from msgspec.structs import replace
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..adapters import audit
from ..adapters.deployments import DeploymentRecorder
from ..adapters.github.client import GitHub
from ..adapters.locks import MAIN, Holder, Locks, lock_keys, now_iso
from ..adapters.terminal_ui import progress
from ..adapters.terraform import ApplyResult, TerraformEngine
from ..config import Config, Layer
from ..core.custom_steps import StepContext
from ..core.drift_issues import IssueAction, IssueOp, decide_issue_actions
from ..core.github_models import Comment, Issue, IssueState
from ..core.layer_graph import LayerGraph
from ..core.reconcile import Held, LayerReport, Verdict, choose_applies, layer_reports
from ..core.summary import ReconcileRun
from ..errors import InfraError
from ..models import LayerRun, Outcome, PlanResult
from .dependencies import layer_graph
from .job import Job
from .pipeline import apply_layers, make_engine_factory

STALE_PLAN = "Saved plan is stale"  # Terraform's (and OpenTofu's) refusal of an outdated plan


class Reconciled(Struct, frozen=True):
    reports: tuple[LayerReport, ...]
    applied: tuple[LayerRun, ...]  # the layers apply ran on (skipped ones included)


def reconcile(
    job: Job, scan: Sequence[LayerRun], origin: ReconcileRun, *, apply: bool
) -> Reconciled:
    """Apply the drifted layers `choose_applies` allows and whose lock is free, in order, each
    from its scan's planfile; report every layer."""
    config, github, env, console = job.config, job.github, job.env, job.console
    graph = layer_graph(config)
    choice = choose_applies(
        config.ordered_layers, scan, apply=apply, graph=graph, on_failure=config.on_failure
    )
    held = dict(choice.held)
    applied: list[LayerRun] = []
    if choice.candidates:
        if not origin.sha:
            raise InfraError(
                "cannot apply drift without knowing the commit (GITHUB_SHA is not set)",
                "run inside GitHub Actions, or export GITHUB_SHA=<the checked-out commit>",
            )
        locks = Locks(
            github,
            is_open=lambda number: github.get_pull(number).state == "open",
            keys=lock_keys(config),
        )
        actor = job.actions.actor or "infra"
        holder = Holder(MAIN, actor, now_iso(origin.when), origin.run_url, origin.sha)
        taken: list[Layer] = []
        try:
            for layer in choice.candidates:
                lock = locks.acquire(layer.name, holder, base_sha=origin.sha)
                if lock.ok:
                    taken.append(layer)
                else:
                    held[layer.name] = Held(Verdict.SKIPPED, lock.holder.describe(layer.name))
            plans = {run.layer: run.plan for run in scan if run.plan is not None}
            applied = _apply(config, github, taken, plans, origin, graph, env=env, console=console)
        finally:
            for layer in taken:
                locks.release(layer.name, MAIN)
    return Reconciled(tuple(layer_reports(scan, held, applied)), tuple(applied))


def _apply(
    config: Config,
    github: GitHub,
    layers: Sequence[Layer],
    plans: Mapping[str, PlanResult],
    origin: ReconcileRun,
    graph: LayerGraph,
    *,
    env: Mapping[str, str],
    console: Console,
) -> list[LayerRun]:
    # A missing deployment record must not stop the repair: warn and go on.
    deployments = DeploymentRecorder(
        github,
        sha=origin.sha,
        run_url=origin.run_url,
        warn=lambda text: console.print(text, style="yellow", markup=False, highlight=False),
    )

    with progress(console, "applying", env) as view:

        def start(layer: Layer) -> None:
            view.start(layer)
            counts = plans[layer.name].counts.short()
            deployments.start(layer.name, f"{counts} by {origin.trigger.value}")

        def done(run: LayerRun) -> None:
            view.done(run)
            deployments.finish(run)

        return apply_layers(
            layers,
            make_engine_factory(config, env, view.line, StepContext(sha=origin.sha)),
            graph=graph,
            on_failure=config.on_failure,
            parallelism=config.apply_parallelism,
            plan_for=lambda layer, engine: plans[layer.name],
            apply_plan=apply_scanned,
            on_start=start,
            on_done=done,
        )


def apply_scanned(engine: TerraformEngine, plan: PlanResult) -> ApplyResult:
    """Apply the planfile the scan produced. If Terraform rejects it as stale (the state moved
    since the scan), plan again and apply only if the new plan makes exactly the same changes
    (same fingerprint); otherwise refuse, because nobody has seen the new changes."""
    assert plan.planfile is not None
    first = engine.apply(plan.planfile)
    if first.ok or STALE_PLAN not in first.output:
        return first
    try:
        fresh = engine.plan()
    except InfraError as exc:
        return ApplyResult(False, first.output, f"the scan's plan went stale; re-plan: {exc}")
    if fresh.fingerprint != plan.fingerprint:
        return ApplyResult(
            False,
            first.output,
            "refused: the scan's plan went stale (the state changed since the scan) and a new "
            f"plan differs from it ({fresh.counts.short()} instead of {plan.counts.short()}); "
            "re-run the job to scan and apply again",
        )
    assert fresh.planfile is not None
    second = engine.apply(fresh.planfile)
    return replace(second, output=f"{first.output}\n(re-planned: same changes)\n{second.output}")


class DriftIssueApi(Protocol):
    """The part of `adapters.github.client.GitHub` the drift issues use."""

    def list_issues(
        self, labels: Iterable[str], state: Literal["open", "closed", "all"] = "all"
    ) -> list[Issue]: ...
    def create_issue(self, title: str, body: str, labels: Iterable[str]) -> Issue: ...
    def create_issue_comment(self, number: int, body: str) -> Comment: ...
    def update_issue(
        self,
        number: int,
        *,
        body: str | None = None,
        state: IssueState | None = None,
        title: str | None = None,
    ) -> Issue: ...


def sync_drift_issues(
    config: Config,
    github: DriftIssueApi,
    reports: Sequence[LayerReport],
    origin: ReconcileRun,
    *,
    console: Console,
) -> list[IssueAction]:
    """Bring the drift issues in line with `reports`; returns what was done."""
    # Found by the first label only: an issue someone took a second label off is still ours.
    existing = github.list_issues(config.drift.labels[:1], state="all")
    actions = decide_issue_actions(reports, existing, origin)
    for action in actions:
        if action.op is IssueOp.CREATE:
            assert action.body is not None
            issue = github.create_issue(action.title, action.body, config.drift.labels)
            console.print(f"drift issue #{issue.number} opened for {action.layer}")
            continue
        assert action.number is not None
        if action.op is IssueOp.CLOSE:
            if action.comment:
                github.create_issue_comment(action.number, action.comment)
            github.update_issue(action.number, state="closed")
        elif action.op is IssueOp.REOPEN:
            github.update_issue(action.number, title=action.title, body=action.body, state="open")
            if action.comment:
                github.create_issue_comment(action.number, action.comment)
        else:
            github.update_issue(action.number, title=action.title, body=action.body)
        console.print(f"drift issue #{action.number} {action.op.value}d for {action.layer}")
    return actions


def audit_applies(
    job: Job, result: Reconciled, origin: ReconcileRun, *, command: str, pr: int | None
) -> None:
    """One audit line for the layers applied (none: nothing to audit)."""
    actions = job.actions
    ran = [r for r in result.applied if r.outcome is not Outcome.SKIPPED]
    if not ran:
        return
    record = audit.AuditRecord(
        who=actions.actor or "infra",
        command=command,
        layers=tuple(r.layer for r in ran),
        head_sha=origin.sha,
        pr=pr,
        run_url=origin.run_url,
        result="failed" if any(r.outcome is Outcome.FAILED for r in ran) else "ok",
        time=now_iso(origin.when),
        fingerprints={r.layer: r.plan.fingerprint for r in ran if r.plan is not None},
        event=actions.event_name,
    )
    audit.emit(record, console=job.console, summary=actions.append_summary)


_STYLE = {
    Verdict.IN_SYNC: "green",
    Verdict.APPLIED: "green",
    Verdict.DRIFTED: "yellow",
    Verdict.SKIPPED: "dim",
    Verdict.FAILED: "red",
    Verdict.LOCKED: "yellow",
}


def print_reports(console: Console, reports: Sequence[LayerReport], title: str) -> None:
    """Each failed layer's whole error, then one table row per layer."""
    for report in reports:
        if report.error:
            console.rule(f"[bold red]{escape(report.layer)}[/]")
            console.print(report.error, markup=False, highlight=False)
    table = Table(title=title, title_justify="left")
    for column in ("Layer", "Result", "+/~/-", "Duration", "Detail"):
        table.add_column(column)
    for r in reports:
        table.add_row(
            escape(r.layer),
            f"{r.verdict.icon} [{_STYLE[r.verdict]}]{r.verdict.value}[/]",
            r.short_counts,
            f"{r.duration:.1f}s",
            escape(r.detail),
        )
    console.print(table)
