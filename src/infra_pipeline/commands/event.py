"""`infra event`: the one thing `ci.yml` runs. Reads `GITHUB_EVENT_NAME` and the payload and
does what the spec's trigger table says; any other event is logged and ignored (exit 0)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from ..adapters.actions_env import ActionsEnv, in_actions, mask_commands
from ..errors import ExitCode, InfraError
from ..events_supported import DISPATCH_COMMANDS, is_handled

if TYPE_CHECKING:  # an ignored event must start fast: pydantic and rich load only when needed
    from rich.console import Console

    from ..config import Config
    from ..core.webhook_events import Event, WorkflowDispatchEvent
    from ..flows.job import Job


def run_event(
    env: Mapping[str, str],
    actions: ActionsEnv,
    console: Console,
    load_config: Callable[[], Config],
    clock: Callable[[], datetime],
) -> int:
    if not actions.event_name:
        raise InfraError(
            "GITHUB_EVENT_NAME is not set: `infra event` runs inside GitHub Actions",
            "locally, run `infra plan`, `infra apply` or `infra verify` instead",
            ExitCode.USAGE,
        )
    _mask_secrets(env, console)
    payload = actions.payload()
    action = payload.get("action")
    if not is_handled(actions.event_name, action if isinstance(action, str) else None):
        suffix = f" ({action})" if action else ""
        console.print(f"infra: event {actions.event_name}{suffix} is not handled: ignored")
        return ExitCode.OK

    from ..adapters.github.client import GitHub
    from ..core.webhook_events import PushEvent, parse_event
    from ..flows.job import Job

    event = parse_event(actions.event_name, payload)  # the one read of the payload
    if isinstance(event, PushEvent) and not event.on_default_branch:
        console.print(f"infra: push to {event.ref}, not the default branch: ignored")
        return ExitCode.OK
    config = load_config()
    with GitHub.from_env(env) as github:
        return _dispatch(Job(config, env, actions, github, console, clock), event)


def _mask_secrets(env: Mapping[str, str], console: Console) -> None:
    """Register the job's secret-shaped values with the runner, so that no log line shows
    them: values GitHub did not inject from `secrets.*` (a login step's exports, keys read
    from files) are not masked otherwise."""
    if not in_actions(env):
        return
    from ..core.redact import secrets_in_env

    for line in mask_commands(secrets_in_env(env)):
        console.file.write(f"{line}\n")
    console.file.flush()


def _after_merge(job: Job, sha: str) -> int:
    from ..flows.aftermerge import run_after_merge

    return run_after_merge(job, sha)


def _drift_scan(job: Job) -> int:
    from ..flows.driftscan import run_drift_scan

    return run_drift_scan(job, apply=job.config.drift.auto_apply)


def _dispatch(job: Job, event: Event) -> int:
    from ..core import webhook_events as events

    if isinstance(event, events.PullRequestEvent):
        from ..flows.pull_request import handle_pull_request

        return handle_pull_request(job, event)
    if isinstance(event, events.IssueCommentEvent):
        from ..flows.comment import handle_comment

        return handle_comment(job, event)
    if isinstance(event, events.MergeGroupEvent):
        from ..flows.merge_group import handle_merge_group

        return handle_merge_group(job, event)
    if isinstance(event, events.PushEvent):
        return _after_merge(job, event.after or job.actions.sha)
    if isinstance(event, events.ScheduleEvent):
        return _drift_scan(job)
    return _workflow_dispatch(job, event)


def _workflow_dispatch(job: Job, event: WorkflowDispatchEvent) -> int:
    """Run the chosen command on the dispatched ref (the default branch's code, reviewed)."""
    command, layer = event.command, event.layer
    if command not in DISPATCH_COMMANDS:
        raise InfraError(
            f"workflow_dispatch command `{command}` is not one of {', '.join(DISPATCH_COMMANDS)}",
            "pick one of them in the Run workflow form",
            ExitCode.USAGE,
        )
    names = [] if layer == "all" else [part.strip() for part in layer.split(",") if part.strip()]
    config, env, console = job.config, job.env, job.console
    if command == "plan":
        from ..flows.plan import run_plan

        return run_plan(config, names, env=env, console=console)[0]
    if command == "verify":
        return _drift_scan(job)  # the scheduled scan, on demand: drift issues kept the same way
    if command == "apply":
        if not event.on_default_branch:
            raise InfraError(
                f"workflow_dispatch apply runs only on the default branch, not {event.ref}",
                "apply a pull request's changes with `/apply` on the PR, after review",
                ExitCode.USAGE,
            )
        return _after_merge(job, job.actions.sha)
    if command == "health":
        from ..flows.health import run_health

        return run_health(config, env=env, console=console).exit_code
    if command == "e2e":
        from ..flows.e2e import run_e2e

        return run_e2e(config, None, env=env, console=console).exit_code
    raise InfraError(
        "workflow_dispatch review needs a pull request",
        "comment `/review` on the pull request instead",
        ExitCode.USAGE,
    )
