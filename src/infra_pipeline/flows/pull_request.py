"""`pull_request` events: validate and plan the touched layers on open/push; release locks
when the PR is closed."""

from __future__ import annotations

from msgspec.structs import replace
from rich.console import Console

from ..adapters.base_config import policy_at
from ..adapters.github.client import GitHub
from ..adapters.locks import Locks
from ..config import Config
from ..core.github_models import PullRequest
from ..core.webhook_events import PullRequestEvent
from ..errors import ExitCode, InfraError
from .job import Job
from .pr_plan import autoplanned, touched_layers, validate_and_plan
from .session import Session

UPDATED = ("opened", "synchronize", "reopened", "ready_for_review")


def handle_pull_request(job: Job, event: PullRequestEvent) -> int:
    config, github, console = job.config, job.github, job.console
    action = event.action
    pr = event.pull_request.record()
    if action == "closed":
        return _closed(pr, github, console)
    if action not in UPDATED:
        console.print(f"infra: pull_request {action}: nothing to do")
        return ExitCode.OK
    # plan_drafts and allow_forks as merged, not as this pull request would have them.
    config = policy_at(
        config,
        github,
        event.repository.default_branch,
        lambda line: console.print(line, markup=False),
        tip=pr.base_sha if pr.base_ref == event.repository.default_branch else None,
    )
    reason = why_not_planned(config, pr)
    if reason:
        console.print(f"infra: {reason}", markup=False)
        return ExitCode.OK
    s = Session(replace(job, config=config), pr, new_pull=action == "opened")
    try:
        with s.board:
            layers = touched_layers(s)
            planned = autoplanned(config, layers)
            held = [layer.name for layer in layers if layer not in planned]
            console.print(
                f"infra: #{pr.number} at {pr.head_sha[:7]} touches "
                + (", ".join(layer.name for layer in layers) or "no layer")
                + (f" (autoplan off, planned on /plan: {', '.join(held)})" if held else "")
            )
            code, m = validate_and_plan(s, layers, validate=True)
    except BaseException:
        s.give_up_running_rows()
        raise
    s.record(
        pr.author,
        "auto-plan",
        [layer.name for layer in planned],
        "ok" if code == ExitCode.OK else "failed",
        {layer.name: layer.record.fingerprint for layer in m.layers if layer.record},
    )
    return code


def why_not_planned(config: Config, pr: PullRequest) -> str:
    """Why `pr` gets no automatic plan (empty when it does): a draft, unless `plan_drafts`; a
    fork, unless `allow_forks`."""
    if pr.draft and not config.plan_drafts:
        return f"#{pr.number} is a draft: not planned (set plan_drafts: true)"
    if pr.is_fork and not config.allow_forks:
        return (
            f"#{pr.number} comes from the fork {pr.head_repo}: not planned, since a plan runs "
            "the PR's code with this repository's secrets (allow_forks: true to allow)"
        )
    return ""


def _closed(pr: PullRequest, github: GitHub, console: Console) -> int:
    def is_open(number: int) -> bool:
        return number != pr.number and github.get_pull(number).state == "open"

    try:
        released = Locks(github, is_open).release_all(pr.number)
    except InfraError as exc:
        console.print(f"infra: could not release the locks of #{pr.number}: {exc.message}")
        return ExitCode.FAILURE
    what = ", ".join(released) if released else "none held"
    verb = "merged" if pr.merged else "closed"
    console.print(f"infra: #{pr.number} {verb}: locks released: {what}")
    return ExitCode.OK
