"""`infra force-unlock LAYER LOCK_ID`: release a stale Terraform state lock from a terminal.

Whoever runs it already holds the backend's credentials, so no repository role is checked
(the PR comment `/force-unlock` is the one `permissions:` restricts). The run that holds the
lock is still asked about when GitHub credentials are in the environment, and the release is
written to the audit trail either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from rich.console import Console

from ..adapters.actions_env import ActionsEnv, ApiAccess
from ..adapters.audit import AuditRecord, emit
from ..adapters.github.client import GitHub
from ..config import Config
from ..core.gate import Refusal
from ..errors import ExitCode
from ..flows.force_unlock import force_unlock


def run_force_unlock(
    config: Config,
    layer: str,
    lock_id: str,
    *,
    env: Mapping[str, str],
    actions: ActionsEnv,
    console: Console,
    clock: Callable[[], datetime],
) -> ExitCode:
    access = ApiAccess.from_env(env)
    if access.token and access.repository:
        with GitHub.from_env(env) as github:
            result = force_unlock(config, layer, lock_id, env=env, github=github)
    else:
        console.print(
            "infra: no GITHUB_TOKEN/GITHUB_REPOSITORY: whether the holder's run is still in "
            "progress was not checked",
            markup=False,
        )
        result = force_unlock(config, layer, lock_id, env=env, github=None)
    if isinstance(result, Refusal):
        outcome, code = f"refused: {result.reason}", ExitCode.FAILURE
        console.print(f"🚫 {result.reason}", markup=False, soft_wrap=True)
    else:
        held = f", which was {result.describe()}" if result.who else ""
        outcome, code = f"ok: released lock {lock_id}{held}", ExitCode.OK
        console.print(f"🔓 released the state lock of {layer}{held}", markup=False, soft_wrap=True)
    record = AuditRecord(
        who=actions.actor or env.get("USER") or "unknown",
        command="force-unlock",
        layers=(layer,),
        head_sha=actions.sha,
        pr=None,
        run_url=actions.run_url if actions.run_id else "",
        result=outcome,
        time=clock().isoformat(timespec="seconds"),
        event=actions.event_name,
    )
    emit(record, console=console, summary=actions.append_summary)
    return code
