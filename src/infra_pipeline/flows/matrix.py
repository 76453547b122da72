"""The scale-out workflow (`ci-matrix.yml`): the automatic plan of a pull request, fanned out.

1. `infra layers --changed --json`: the layers the pull request touches, as the job output
   `layers` that the plan matrix runs over;
2. `infra plan LAYER --results-dir DIR` in each matrix job: CI Validate and the plan of one
   layer, written to `DIR/LAYER.json` (`plan_results`); the dashboard is left alone, so
   parallel jobs never race on it;
3. `infra dashboard refresh --results-dir DIR` in the last job: every result recorded on the
   head commit's dashboard in one write, as the single job's automatic plan would have, so
   `/apply` then works exactly as after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Final

from msgspec.structs import replace
from rich.console import Console

from ..adapters.actions_env import (
    ActionsEnv,
    ApiAccess,
    annotation,
    require_workspace_at,
    workspace_sha,
)
from ..adapters.base_config import policy_at
from ..adapters.github.client import GitHub
from ..adapters.locks import Holder
from ..config import Config
from ..core.custom_steps import StepContext
from ..core.dashboard import steps as dash
from ..core.github_models import PullRequest
from ..core.policy_check import PolicyResult
from ..core.state_lock import lock_reply
from ..core.webhook_events import IssueCommentEvent, PullRequestEvent
from ..errors import ExitCode, InfraError
from ..models import LayerRun, Outcome
from . import plan_results
from .comment import fingerprints
from .job import Job, utcnow
from .pipeline import select_layers
from .plan import run_plan
from .policy_check import PolicyCheck, log_policies
from .pr_plan import (
    autoplanned,
    full_plans,
    hold_for_plan,
    runs_url,
    show_locks,
    skip_untouched,
    touched_layers,
)
from .pull_request import why_not_planned
from .session import Session
from .validate import ci_verdict, run_validate

PR_EVENTS = ("pull_request", "issue_comment")
NO_RESULT = "its plan job left no result (cancelled, or it failed before planning)"


def run_layers(
    config: Config,
    *,
    changed: bool,
    env: Mapping[str, str],
    actions: ActionsEnv,
    console: Console,
) -> list[str]:
    """Every layer in `order`, or with `changed` the ones the job's pull request touches
    (none for a pull request that is not planned automatically: a draft, a fork). Also the
    step output `layers` (a JSON list) in GitHub Actions."""
    names = [layer.name for layer in config.ordered_layers]
    if changed:
        event = _pr_event(actions, "infra layers --changed")
        with GitHub.from_env(env) as github:
            s = pr_session(Job(config, env, actions, github, console), event)
            skip = why_skipped(s)
            if skip:
                console.print(f"infra: {skip}", markup=False)
                names = []
            else:
                # A layer with autoplan off gets no plan job; its row waits for `/plan`.
                names = [layer.name for layer in autoplanned(s.config, touched_layers(s))]
    actions.write_output("layers", as_json(names))
    return names


def as_json(names: Sequence[str]) -> str:
    return json.dumps(list(names), separators=(",", ":"))


def plan_to_results(
    config: Config,
    names: Sequence[str],
    results_dir: Path,
    *,
    env: Mapping[str, str],
    actions: ActionsEnv,
    console: Console,
    jobs: int | None = None,
    detailed_exitcode: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[ExitCode, list[LayerRun]]:
    """CI Validate, then the plan of each valid layer, each written to `results_dir` as the
    dashboard job reads it. Without a pull request (run by hand) the checkout's commit is
    the one planned.

    In a pull request's job with a token (ci-matrix.yml gives one that reads contents), the
    policy, the custom steps and the Rego policies come from the default branch and each plan
    is checked, as in the single job; without one, the pull request's own infra.yaml is used
    and its policies are recorded as not checked."""
    head, base = _planned_commit(config, actions)
    with ExitStack() as stack:
        github = _reader(env, actions, console)
        if github is not None:
            stack.enter_context(github)
            config = _base_policy(config, github, actions, console)
        layers = select_layers(config, names)
        started = clock()
        # Every layer that passes is planned next: initialise each in full once, for both.
        code, checks = run_validate(
            config, layers, env=env, console=console, jobs=jobs, planned=[x.name for x in layers]
        )
        validated = clock()
        valid = [check.layer for check in checks if check.ok]
        runs: list[LayerRun] = []
        if valid:  # no names would mean every layer
            plan_code, runs = run_plan(
                config,
                valid,
                env=env,
                console=console,
                jobs=jobs,
                detailed_exitcode=detailed_exitcode,
                context=StepContext(pr=_pr_number(actions), sha=head),
            )
            code = plan_code if code == ExitCode.OK else code
        verdicts = PolicyCheck(config, github).check_runs(runs) if github is not None else []
    log_policies(console, verdicts)
    by_layer = {run.layer: run for run in runs}
    policy = {verdict.layer: verdict for verdict in verdicts}
    for check in checks:
        result = plan_results.result_of(
            check,
            by_layer.get(check.layer),
            head_sha=head,
            base_sha=base,
            started_at=started,
            validated_at=validated,
            policy=policy.get(check.layer),
        )
        path = plan_results.write(results_dir, result)
        console.print(f"infra: {check.layer}: {result.outcome} → {path}", markup=False)
    actions.append_summary(dash.step_summary(None, full_plans(runs)))
    return code, runs


def _reader(env: Mapping[str, str], actions: ActionsEnv, console: Console) -> GitHub | None:
    """A client for reading the default branch, in a pull request's plan job given a token."""
    if actions.event_name != "pull_request":
        return None
    if not ApiAccess.from_env(env).token:
        console.print(
            annotation("warning", UNREAD_BASE, title="infra plan"),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return None
    return GitHub.from_env(env)


UNREAD_BASE: Final = (
    "GITHUB_TOKEN is not set: this plan uses the pull request's own infra.yaml (its custom "
    "steps too) and its policies are not checked; give the step `GITHUB_TOKEN: "
    "${{ github.token }}` as `infra init --matrix` writes it"
)


def _base_policy(config: Config, github: GitHub, actions: ActionsEnv, console: Console) -> Config:
    event = actions.event()
    assert isinstance(event, PullRequestEvent)  # `_reader` gave a client: a pull_request job
    pr, branch = event.pull_request.record(), event.repository.default_branch
    return policy_at(
        config,
        github,
        branch,
        lambda line: console.print(line, markup=False),
        tip=pr.base_sha if pr.base_ref == branch else None,
    )


def _pr_number(actions: ActionsEnv) -> int | None:
    event = actions.event() if actions.event_name == "pull_request" else None
    return event.pull_request.number if isinstance(event, PullRequestEvent) else None


def refresh_dashboard(
    config: Config,
    results_dir: Path,
    *,
    env: Mapping[str, str],
    actions: ActionsEnv,
    console: Console,
    clock: Callable[[], datetime] = utcnow,
) -> ExitCode:
    """Record the plan jobs' results on the dashboard of the pull request's head commit, in
    one write, and set the commit statuses it calls for."""
    event = _pr_event(actions, "infra dashboard refresh")
    with GitHub.from_env(env) as github:
        s = pr_session(Job(config, env, actions, github, console, clock), event)
        skip = why_skipped(s)
        if skip:
            console.print(f"infra: {skip}", markup=False)
            return ExitCode.OK
        require_workspace_at(s.config.root, s.pr.head_sha)  # the touched layers are read here
        with s.board:
            layers = touched_layers(s)
            touched = [layer.name for layer in autoplanned(s.config, layers)]
            waiting = [layer.name for layer in layers if layer.name not in touched]
            results = plan_results.read_all(results_dir, s.config)
            held = s.locks.held() if touched or results else {}
            now = s.clock()
            policies = result_policies(s.config, results)
            m = s.board.update(
                lambda m: dash.record_policies(
                    record_results(
                        m,
                        results,
                        touched,
                        pr=s.pr,
                        run_id=s.run_id,
                        held=held,
                        now=now,
                        waiting=waiting,
                    ),
                    policies,
                )
            )
        s.publish(m)
        locks = [r.lock for r in results if r.lock is not None and r.head_sha == s.pr.head_sha]
        if locks:  # as the single job replies: who holds it and how to release it
            s.reply(lock_reply(locks, runs_url(s.actions.run_url)))
        failed = m.state in (dash.State.CI_FAILED, dash.State.PLAN_FAILED)
        planned = {*touched, *(r.layer for r in results)}
        names = [layer.name for layer in m.layers if layer.name in planned]
        s.record(s.pr.author, "auto-plan", names, "failed" if failed else "ok", fingerprints(m))
        return ExitCode.FAILURE if failed else ExitCode.OK


UNCHECKED: Final = (
    "not checked: its plan job had no token to read the policies from the default branch "
    "(give it `GITHUB_TOKEN`, as `infra init --matrix` does); comment `/plan` to plan and "
    "check in one job"
)


def result_policies(
    config: Config, results: Sequence[plan_results.LayerResult]
) -> list[PolicyResult]:
    """With `policies` on the default branch, the verdict its plan job recorded on each plan.
    A plan without one (a job given no token) is recorded as not checked, which blocks
    `/apply` like a failure (until `/plan` or `/approve_policies`): a policy never passes
    unread."""
    if config.policies is None:
        return []
    return [r.policy or PolicyResult(r.layer, (UNCHECKED,)) for r in results if r.plan is not None]


def record_results(
    m: dash.Dashboard,
    results: Sequence[plan_results.LayerResult],
    touched: Sequence[str],
    *,
    pr: PullRequest,
    run_id: int,
    held: Mapping[str, Holder],
    now: datetime,
    waiting: Sequence[str] = (),
) -> dash.Dashboard:
    """The steps of the single job's automatic plan (`flows.pr_plan`), from the results: CI
    Validate, the untouched rows, each plan; a touched layer without a result failed.
    `waiting`: touched layers with autoplan off, which had no plan job and wait for `/plan`."""
    by_layer = {r.layer: plan_results.with_base(r, pr.base_sha) for r in results}
    names = [layer.name for layer in m.layers if layer.name in touched or layer.name in by_layer]
    done = list(by_layer.values())
    ok, detail = ci_verdict([r.check for r in done])
    validated = max((r.validated_at for r in done), default=now)
    m = dash.start_stage(m, dash.Stage.CI, run_id, min((r.started_at for r in done), default=now))
    status = dash.Status.OK if ok else dash.Status.FAILED
    m = dash.finish_stage(m, dash.Stage.CI, status, run_id, validated, detail)
    if not ok:  # as in the single job, a failed CI Validate plans nothing
        return m
    m = skip_untouched(m, [*names, *waiting], validated)
    m = hold_for_plan(m, waiting, validated)
    if not names:
        return dash.start_plan(m, [], run_id, validated)  # nothing touched: ready to merge
    for name in names:
        result = by_layer.get(name)
        m = dash.start_plan(m, [name], run_id, validated if result is None else result.validated_at)
    for name in names:
        m = _record(m, name, by_layer.get(name), pr, run_id, now)
    return show_locks(m, held, pr.number)


def _record(
    m: dash.Dashboard,
    name: str,
    result: plan_results.LayerResult | None,
    pr: PullRequest,
    run_id: int,
    now: datetime,
) -> dash.Dashboard:
    if result is None:
        return dash.fail_plan(m, name, NO_RESULT, run_id, now)
    if result.head_sha != pr.head_sha:
        wrong = f"planned at {result.head_sha[:7]}, not at the head {pr.head_sha[:7]}"
        return dash.fail_plan(m, name, wrong, run_id, now)
    # As `dash.record_plans` records the single job's own runs.
    when = result.finished_at
    if result.plan is not None:
        m = dash.finish_plan_record(m, name, result.plan, run_id, when)
    elif result.outcome is Outcome.SKIPPED:
        m = dash.skip_plan(m, name, result.error or "skipped", when)
    elif result.lock is not None:
        m = dash.lock_plan(m, name, result.lock, run_id, when)
    else:
        error = result.error or "plan failed"
        m = dash.fail_plan(m, name, error, run_id, when, result.diagnostics)
    return dash.record_steps(m, name, result.steps) if result.steps else m


def pr_session(job: Job, event: PullRequestEvent | IssueCommentEvent) -> Session:
    """The session of the job's pull request (from a `pull_request` or `issue_comment`
    event), its config with the policy of the default branch."""
    github, console = job.github, job.console
    if isinstance(event, PullRequestEvent):
        pr = event.pull_request.record()
    else:
        pr = github.get_pull(event.issue.number)
    config = policy_at(
        job.config,
        github,
        event.repository.default_branch,
        lambda line: console.print(line, markup=False),
    )
    return Session(replace(job, config=config), pr)


def why_skipped(s: Session) -> str:
    """Why the pull request gets no automatic plan (empty when it does)."""
    if s.pr.state != "open":
        return f"#{s.pr.number} is {s.pr.state}: not planned"
    return why_not_planned(s.config, s.pr)


def _pr_event(actions: ActionsEnv, command: str) -> PullRequestEvent | IssueCommentEvent:
    """The job's event, which must be about a pull request."""
    name = actions.event_name
    event = actions.event() if name in PR_EVENTS else None
    if isinstance(event, PullRequestEvent) or (
        isinstance(event, IssueCommentEvent) and event.issue.is_pull_request
    ):
        return event
    raise InfraError(
        f"`{command}` works for a pull request: it runs in a pull_request or issue_comment "
        f"job of GitHub Actions, not {'a ' + name + ' job' if name else 'outside one'}",
        "`infra layers` lists every layer; `infra plan` plans without the dashboard",
        ExitCode.USAGE,
    )


def _planned_commit(config: Config, actions: ActionsEnv) -> tuple[str, str]:
    """(head, base) of what is being planned: the pull request's, which must be checked out,
    or the checkout's commit with no base outside a pull_request job."""
    if actions.event_name == "pull_request":
        event = actions.event()
        assert isinstance(event, PullRequestEvent)  # parse_event picks the record by name
        head, base = event.pull_request.head.sha, event.pull_request.base.sha
        require_workspace_at(config.root, head)
        return head, base
    sha = workspace_sha(config.root)
    if sha is None:
        raise InfraError(
            f"{config.root} is not a git checkout, and a plan result names the commit planned",
            "run it in a checkout of the repository",
        )
    return sha, ""
