"""A GitHub Deployment per applied layer: the environment is the layer, the ref the commit.

`record_deployment` marks it in progress before Terraform runs; `finish` marks it success or
failure with the run's link, so the repository's Environments page shows what is live where.
`DeploymentRecorder` does both for every layer of one apply: the post-merge apply and a pull
request's `/apply` record their deployments through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from msgspec import Struct, field

from ..core.github_models import DeploymentState
from ..errors import InfraError
from ..models import LayerRun, Outcome


class DeploymentApi(Protocol):
    """The part of `adapters.github.client.GitHub` deployments need."""

    def create_deployment(
        self, ref: str, environment: str, description: str, payload: Mapping[str, Any]
    ) -> int: ...

    def create_deployment_status(
        self, deployment_id: int, state: DeploymentState, log_url: str, description: str
    ) -> None: ...


class DeploymentHandle(Struct, frozen=True):
    github: DeploymentApi
    id: int
    layer: str
    run_url: str

    def finish(self, ok: bool, description: str) -> None:
        """Mark the deployment success or failure (GitHub keeps every status, the last wins)."""
        state: DeploymentState = "success" if ok else "failure"
        self.github.create_deployment_status(self.id, state, self.run_url, description)


def record_deployment(
    github: DeploymentApi, *, sha: str, layer: str, run_url: str, description: str
) -> DeploymentHandle:
    """Create the deployment of `sha` to environment `layer`, in progress."""
    deployment_id = github.create_deployment(
        sha, layer, description, {"layer": layer, "tool": "infra-pipeline"}
    )
    github.create_deployment_status(deployment_id, "in_progress", run_url, description)
    return DeploymentHandle(github, deployment_id, layer, run_url)


class DeploymentRecorder(Struct):
    """The deployments of one apply: `start` before Terraform applies a layer, `finish` after.

    With `warn`, a GitHub error is reported through it and the apply goes on (the post-merge
    repair must not stop for a missing record); without, it raises (a PR's `/apply` stops)."""

    github: DeploymentApi
    sha: str
    run_url: str
    warn: Callable[[str], None] | None = None
    _open: dict[str, DeploymentHandle] = field(default_factory=dict)

    def start(self, layer: str, description: str) -> None:
        try:
            self._open[layer] = record_deployment(
                self.github,
                sha=self.sha,
                layer=layer,
                run_url=self.run_url,
                description=description,
            )
        except InfraError as exc:
            self._failed(exc, f"deployment of {layer} not recorded")

    def finish(self, run: LayerRun) -> None:
        handle = self._open.pop(run.layer, None)
        if handle is None:
            return
        ok = run.outcome is Outcome.OK
        first = (run.error.splitlines() or ["failed"])[0]
        try:
            handle.finish(ok, "applied" if ok else f"failed: {first[:100]}")
        except InfraError as exc:
            self._failed(exc, f"deployment of {run.layer} not updated")

    def _failed(self, exc: InfraError, what: str) -> None:
        if self.warn is None:
            raise exc
        self.warn(f"{what}: {exc}")
