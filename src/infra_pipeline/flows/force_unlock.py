"""Releasing a stale Terraform state lock: `/force-unlock LAYER LOCK_ID` and
`infra force-unlock LAYER LOCK_ID`.

A lock is stale when whatever took it can no longer release it: a job killed outright, a
runner that vanished. Releasing a live one lets two writers corrupt the state, so this
refuses while the workflow run that holds the lock is still in progress (the holder names its
run where the backend says so: pg sessions do, see `core/state_lock.py`), and only releases the
lock the operator named, never "whatever is there now".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..adapters import pg_locks
from ..adapters.terraform import TerraformEngine
from ..config import Config
from ..core.gate import Refusal
from ..core.github_models import WorkflowRun
from ..errors import InfraError
from ..models import StateLock


class WorkflowRuns(Protocol):
    """The part of `adapters.github.client.GitHub` a force-unlock asks: is the holder's run
    still going?"""

    def get_workflow_run(self, run_id: int) -> WorkflowRun | None: ...


def force_unlock(
    config: Config,
    layer_name: str,
    lock_id: str,
    *,
    env: Mapping[str, str],
    github: WorkflowRuns | None,
) -> StateLock | Refusal:
    """Release `layer_name`'s state lock `lock_id`; the lock released, or why not.
    `github`: to ask whether the holder's run still runs (None outside Actions: not asked)."""
    if layer_name not in config.layers:
        raise InfraError(f"unknown layer `{layer_name}`", f"layers are: {', '.join(config.layers)}")
    engine = TerraformEngine(config, config.layers[layer_name], env=env)
    state = engine.pg_state()
    if state is None:
        # Backends that store a lock record (s3, gcs, azurerm, ...): Terraform's own command,
        # which checks the ID against the record. Who holds it is not known here.
        engine.force_unlock(lock_id)
        return StateLock(layer=layer_name, backend=engine.backend, lock_id=lock_id)
    current = pg_locks.holder(state, layer_name)
    if current is None or current.lock_id != lock_id:
        now = f"now it is {current.describe()}" if current else "it is not locked now"
        return Refusal(
            f"`{layer_name}` has no state lock with ID `{lock_id}` ({now}). Nothing was "
            "released; take the ID from the latest plan's reply."
        )
    refusal = still_running(current, github)
    if refusal is not None:
        return refusal
    return pg_locks.release(state, layer_name, lock_id)


def still_running(lock: StateLock, github: WorkflowRuns | None) -> Refusal | None:
    """A refusal when the lock's holder is a workflow run that GitHub says has not finished:
    its Terraform may still be writing the state (cancel the run instead: that releases it)."""
    if lock.run_id is None or github is None:
        return None
    run = github.get_workflow_run(lock.run_id)
    if run is None or run.status == "completed":
        return None
    return Refusal(
        f"The state lock of `{lock.layer}` is held by [workflow run {lock.run_id}]"
        f"({run.html_url}), which is still `{run.status}`: its Terraform may still be writing "
        "the state. Cancel that run (cancelling releases the lock) or wait for it to finish."
    )
