"""A GitHub Deployment per applied layer: the environment is the layer, the ref the commit.

`record_deployment` marks it in progress before Terraform runs; `finish` marks it success or
failure with the run's link, so the repository's Environments page shows what is live where.
Used by the post-merge apply and by a pull request's `/apply`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..core.github_models import DeploymentState


class DeploymentApi(Protocol):
    """The part of `core.github.GitHub` deployments need."""

    def create_deployment(
        self, ref: str, environment: str, description: str, payload: Mapping[str, Any]
    ) -> int: ...

    def create_deployment_status(
        self, deployment_id: int, state: DeploymentState, log_url: str, description: str
    ) -> None: ...


@dataclass(frozen=True)
class DeploymentHandle:
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
