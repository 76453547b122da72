"""`infra event`: the one thing `ci.yml` runs. Reads `GITHUB_EVENT_NAME` and the payload and
does what the spec's trigger table says; any other event is logged and ignored (exit 0)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.actions import ActionsEnv
from ..errors import ExitCode, InfraError
from ..events_supported import DISPATCH_COMMANDS, is_handled

if TYPE_CHECKING:  # an ignored event must start fast: pydantic and rich load only when needed
    from rich.console import Console

    from ..config import Config


def run_event(
    env: Mapping[str, str],
    console: Console,
    load_config: Callable[[], Config],
    clock: Callable[[], datetime],
) -> int:
    actions = ActionsEnv.from_env(env)
    if not actions.event_name:
        raise InfraError(
            "GITHUB_EVENT_NAME is not set: `infra event` runs inside GitHub Actions",
            "locally, run `infra plan`, `infra apply` or `infra verify` instead",
            ExitCode.USAGE,
        )
    payload = actions.payload()
    action = payload.get("action")
    if not is_handled(actions.event_name, action if isinstance(action, str) else None):
        suffix = f" ({action})" if action else ""
        console.print(f"infra: event {actions.event_name}{suffix} is not handled: ignored")
        return ExitCode.OK
    if actions.event_name == "push" and not _is_default_branch(payload):
        console.print(f"infra: push to {payload.get('ref')}, not the default branch: ignored")
        return ExitCode.OK

    from ..core.github import GitHub

    config = load_config()
    github = GitHub.from_env(env)
    with github:
        return _dispatch(config, payload, actions, github, env=env, console=console, clock=clock)


def _dispatch(
    config: Config,
    payload: Mapping[str, Any],
    actions: ActionsEnv,
    github: Any,
    *,
    env: Mapping[str, str],
    console: Console,
    clock: Callable[[], datetime],
) -> int:
    name = actions.event_name
    if name == "pull_request":
        from ..flows.pull_request import handle_pull_request

        return handle_pull_request(
            config, payload, env=env, actions=actions, github=github, console=console, clock=clock
        )
    if name == "issue_comment":
        from ..flows.comment import handle_comment

        return handle_comment(
            config, payload, env=env, actions=actions, github=github, console=console, clock=clock
        )
    if name == "push":
        from .aftermerge import run_after_merge

        sha = str(payload.get("after") or actions.sha)
        return run_after_merge(
            config, github, env=env, console=console, now=clock(), sha=sha, run_url=actions.run_url
        )
    if name == "schedule":
        from .driftscan import run_drift_scan

        return run_drift_scan(
            config,
            github,
            env=env,
            console=console,
            now=clock(),
            run_url=actions.run_url,
            apply=config.drift.auto_apply,
        )
    return _workflow_dispatch(
        config, payload, actions, github, env=env, console=console, clock=clock
    )


def _workflow_dispatch(
    config: Config,
    payload: Mapping[str, Any],
    actions: ActionsEnv,
    github: Any,
    *,
    env: Mapping[str, str],
    console: Console,
    clock: Callable[[], datetime],
) -> int:
    """Run the chosen command on the dispatched ref (the default branch's code, reviewed)."""
    inputs = payload.get("inputs") or {}
    command = str(inputs.get("command") or "plan")
    layer = str(inputs.get("layer") or "all")
    if command not in DISPATCH_COMMANDS:
        raise InfraError(
            f"workflow_dispatch command `{command}` is not one of {', '.join(DISPATCH_COMMANDS)}",
            "pick one of them in the Run workflow form",
            ExitCode.USAGE,
        )
    names = [] if layer == "all" else [part.strip() for part in layer.split(",") if part.strip()]
    if command == "plan":
        from .plan import run_plan

        return run_plan(config, names, env=env, console=console)[0]
    if command == "verify":
        from .driftscan import run_drift_scan

        # The scheduled scan, on demand: drift issues are kept the same way.
        return run_drift_scan(
            config,
            github,
            env=env,
            console=console,
            now=clock(),
            run_url=actions.run_url,
            apply=config.drift.auto_apply,
        )
    if command == "apply":
        if not _is_default_branch(payload):
            raise InfraError(
                "workflow_dispatch apply runs only on the default branch, "
                f"not {payload.get('ref')}",
                "apply a pull request's changes with `/apply` on the PR, after review",
                ExitCode.USAGE,
            )
        from .aftermerge import run_after_merge

        return run_after_merge(
            config,
            github,
            env=env,
            console=console,
            now=clock(),
            sha=actions.sha,
            run_url=actions.run_url,
        )
    if command == "health":
        from .health import run_health

        return run_health(config, env=env, console=console).exit_code
    if command == "e2e":
        from .e2e import run_e2e

        return run_e2e(config, None, env=env, console=console).exit_code
    raise InfraError(
        "workflow_dispatch review needs a pull request",
        "comment `/review` on the pull request instead",
        ExitCode.USAGE,
    )


def _is_default_branch(payload: Mapping[str, Any]) -> bool:
    default = (payload.get("repository") or {}).get("default_branch") or "main"
    return payload.get("ref") == f"refs/heads/{default}"
