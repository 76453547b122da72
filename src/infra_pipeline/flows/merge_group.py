"""`merge_group` (`checks_requested`): GitHub's merge queue asks whether its commit may merge.

The queue builds a commit of the default branch plus the queued pull requests and waits for
the required statuses on it. This job plans the layers that commit touches against the
queue's base and sets:

- `infra/plan`: success when every touched layer planned, failure when one did not;
- `infra/apply`, by `merge_queue.apply_before_merge`:
  - false (the default): success, "applies after merge". The push the queue makes to the
    default branch runs the after-merge apply, so Terraform applies exactly the commit that
    landed, and nothing is applied for a pull request the queue may still drop;
  - true: success only when no touched layer has changes left, i.e. every pull request in the
    group was applied (`/apply`) before it joined; otherwise failure naming the layers.

The result goes to the job summary and, as a "Merge queue" row, onto the dashboard of each
pull request in the group.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from msgspec import Struct
from rich.console import Console

from ..adapters import process
from ..adapters.actions_env import require_workspace_at
from ..adapters.base_config import policy_at
from ..adapters.board import Board
from ..adapters.git_changes import changed_files
from ..config import Config, Layer
from ..core.custom_steps import StepContext
from ..core.dashboard import steps as dash
from ..core.github_models import StatusState
from ..core.webhook_events import MergeGroupData, MergeGroupEvent
from ..errors import ExitCode, InfraError
from ..models import LayerRun, Outcome
from .job import Job
from .plan import plan_with_progress
from .pr_plan import full_plans, layers_touched_by

PLAN_CONTEXT = "infra/plan"
APPLY_CONTEXT = "infra/apply"
# `gh-readonly-queue/<base branch>/pr-<number>-<base sha>`: the pull request the group ends with.
_QUEUE_REF = re.compile(r"gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]{40}$")
# Pull requests named in the group's commit messages: "Merge pull request #12 …", "… (#12)".
_PR_IN_MESSAGE = re.compile(r"(?:pull request #|\(#)(\d+)")


class QueueVerdict(Struct, frozen=True):
    plan: StatusState
    plan_text: str
    apply: StatusState
    apply_text: str

    @property
    def ok(self) -> bool:
        return self.plan == "success" and self.apply == "success"


def judge(runs: Sequence[LayerRun], *, apply_before_merge: bool) -> QueueVerdict:
    """The two statuses for the group's commit, from its plans. Pure."""
    failed = [r.layer for r in runs if r.outcome is Outcome.FAILED]
    changed = [r.layer for r in runs if r.outcome is Outcome.CHANGES]
    if failed:
        plan: StatusState = "failure"
        plan_text = f"plan failed: {', '.join(failed)}"
    elif not runs:
        plan, plan_text = "success", "no layer touched"
    else:
        plan = "success"
        plan_text = f"{len(runs)} planned, {len(changed)} with changes"
    if failed:
        return QueueVerdict(plan, plan_text, "failure", "not checked: a plan failed")
    if not apply_before_merge:
        what = f"{', '.join(changed)} apply" if changed else "nothing to apply"
        return QueueVerdict(plan, plan_text, "success", f"{what} after merge")
    if changed:
        return QueueVerdict(
            plan, plan_text, "failure", f"not applied before merge: {', '.join(changed)}"
        )
    return QueueVerdict(plan, plan_text, "success", "every change was applied before merge")


def handle_merge_group(job: Job, event: MergeGroupEvent) -> int:
    group = event.merge_group
    env, actions, github, console = job.env, job.actions, job.github, job.console
    # The merge_queue policy as merged, not as a pull request in the group would have it.
    branch = event.repository.default_branch
    config = policy_at(job.config, github, branch, lambda line: console.print(line, markup=False))
    target = actions.run_url or None
    for context in (PLAN_CONTEXT, APPLY_CONTEXT):
        github.create_status(group.head_sha, context, "pending", "merge queue: planning", target)
    try:
        require_workspace_at(config.root, group.head_sha)
        layers = _touched(config, group, env, console)
        runs = plan_with_progress(
            config, layers, env=env, console=console, context=StepContext(sha=group.head_sha)
        )
        if process.cancelled.is_set():
            raise KeyboardInterrupt  # cancelled, not failed: exit 130 like every other job
    except BaseException as exc:
        # No status may stay pending: the queue would wait for it until its timeout.
        message = exc.message if isinstance(exc, InfraError) else "the job stopped"
        for context in (PLAN_CONTEXT, APPLY_CONTEXT):
            github.create_status(group.head_sha, context, "error", message, target)
        raise
    verdict = judge(runs, apply_before_merge=config.merge_queue.apply_before_merge)
    github.create_status(group.head_sha, PLAN_CONTEXT, verdict.plan, verdict.plan_text, target)
    github.create_status(group.head_sha, APPLY_CONTEXT, verdict.apply, verdict.apply_text, target)
    actions.append_summary(render_summary(group, runs, verdict))
    actions.append_summary(dash.step_summary(None, full_plans(runs)))
    for number in pulls_in_group(group, _messages(config, group, env)):
        _note_on_dashboard(job, config, number, group, verdict)
    console.print(
        f"infra: merge group {group.head_sha[:7]}: {verdict.plan_text}; {verdict.apply_text}",
        markup=False,
    )
    return ExitCode.OK if verdict.ok else ExitCode.FAILURE


def _touched(
    config: Config, group: MergeGroupData, env: Mapping[str, str], console: Console
) -> list[Layer]:
    files = changed_files(config.root, group.base_sha, group.head_sha, env)
    if files is None:
        # Planning too much is safe; planning too little would let an unplanned change merge.
        console.print(
            f"::warning title=infra merge queue::the checkout lacks {group.base_sha[:7]}; "
            "planning every layer (check out with fetch-depth: 0)",
            markup=False,
        )
        return config.ordered_layers
    return layers_touched_by(config, files, console)


def _messages(config: Config, group: MergeGroupData, env: Mapping[str, str]) -> str:
    log = process.run(
        ["git", "log", "--format=%s%n%b", f"{group.base_sha}..{group.head_sha}"],
        cwd=config.root,
        env=env,
        timeout=60,
    )
    return log.stdout if log.returncode == 0 else ""


def pulls_in_group(group: MergeGroupData, messages: str) -> list[int]:
    """The pull requests the group's commit carries: the one its branch is named after, and
    those its commit messages name. Pure."""
    found = [int(n) for n in _PR_IN_MESSAGE.findall(messages)]
    named = _QUEUE_REF.search(group.head_ref)
    if named:
        found.append(int(named.group(1)))
    return sorted(set(found))


def render_summary(group: MergeGroupData, runs: Sequence[LayerRun], verdict: QueueVerdict) -> str:
    """The job summary of a merge-queue check. Pure."""
    icon = {Outcome.OK: "✅", Outcome.CHANGES: "📝", Outcome.FAILED: "❌"}
    lines = [
        f"## 🚦 Merge queue: `{group.head_sha[:7]}` into `{group.branch}`",
        "",
        f"- `{PLAN_CONTEXT}`: **{verdict.plan}** — {verdict.plan_text}",
        f"- `{APPLY_CONTEXT}`: **{verdict.apply}** — {verdict.apply_text}",
        "",
    ]
    if runs:
        lines += ["| Layer | Plan | Changes |", "|:---|:---:|:---|"]
        for run in runs:
            counts = run.plan.counts.short() if run.plan is not None else "-"
            lines.append(f"| `{run.layer}` | {icon.get(run.outcome, '⏭️')} | {counts} |")
    return "\n".join(lines)


def _note_on_dashboard(
    job: Job, config: Config, number: int, group: MergeGroupData, verdict: QueueVerdict
) -> None:
    """A "Merge queue" row on the pull request's dashboard (its head commit's)."""
    github, actions, clock, console = job.github, job.actions, job.clock, job.console
    try:
        pr = github.get_pull(number)
        board = Board.for_run(
            github,
            config,
            actions,
            pr_number=pr.number,
            head_sha=pr.head_sha,
            base_sha=pr.base_sha,
            clock=clock,
        )
        status = dash.Status.OK if verdict.ok else dash.Status.FAILED
        run_id = int(actions.run_id) if actions.run_id.isdigit() else None
        detail = f"group `{group.head_sha[:7]}`: {verdict.plan_text}; {verdict.apply_text}"
        with board:
            board.update(
                lambda m: dash.finish_stage(
                    m, dash.Stage.MERGE_QUEUE, status, run_id, clock(), detail
                )
            )
    except InfraError as exc:  # the statuses already tell the queue; the row is a courtesy
        console.print(
            f"::warning title=infra merge queue::dashboard of #{number} not updated: {exc.message}",
            markup=False,
        )
