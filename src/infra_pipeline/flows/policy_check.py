"""`policies:` on a job's plans: load the Rego files once, from where the rest of the policy
comes from (the default branch for a pull request, so the pull request cannot weaken or delete
them; this checkout for `infra policy test` and the PR that adopts infra-pipeline, whose own
policies can only add failures), then check each layer's plan JSON.

A policy set that cannot be loaded or evaluated fails every layer it would have checked, with
why: a broken policy must not let a plan through unchecked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from rich.console import Console

from ..adapters.base_config import checkout_path
from ..adapters.github.client import GitHub
from ..adapters.rego import (
    PolicyLoadError,
    RegoPolicies,
    committed_modules,
    local_modules,
    remote_modules,
)
from ..config import CONFIG_NAME, Config
from ..core.policy_check import PolicyResult, broken, result_of
from ..models import LayerRun, Outcome, PlanResult


class PolicyCheck:
    """The configured policies of one job, loaded on first use."""

    def __init__(self, config: Config, github: GitHub | None) -> None:
        self._config = config
        self._github = github
        self._loaded: RegoPolicies | PolicyLoadError | None = None
        # Applies run on worker threads; one interpreter answers one query at a time.
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._config.policies is not None

    def _policies(self) -> RegoPolicies | PolicyLoadError:
        if self._loaded is None:
            try:
                self._loaded = RegoPolicies(self._modules())
            except PolicyLoadError as exc:
                self._loaded = exc
        return self._loaded

    def _modules(self) -> dict[str, str]:
        policies = self._config.policies
        assert policies is not None  # callers ask `enabled` first
        ref = self._config.policy_ref
        if ref is None or self._github is None:
            return local_modules(self._config.root, policies.paths)
        source = self._config.source or self._config.root / CONFIG_NAME
        top, path = checkout_path(Path(source))
        parent = str(PurePosixPath(path).parent)
        prefix = "" if parent == "." else parent
        commit = self._config.policy_commit
        if commit is not None:
            found = committed_modules(top, commit, prefix, policies.paths, ref)
            if found is not None:
                return found
        return remote_modules(self._github, prefix, policies.paths, ref)

    def check(self, plan: PlanResult) -> PolicyResult:
        """The policies' verdict on one layer's plan."""
        with self._lock:
            return self._check(plan)

    def _check(self, plan: PlanResult) -> PolicyResult:
        policies = self._policies()
        if isinstance(policies, PolicyLoadError):
            return broken(plan.layer, policies.message)
        if plan.document is None:
            return broken(plan.layer, "the plan's JSON was not kept")
        namespaces = self._config.policies.namespaces if self._config.policies else ()
        try:
            return result_of(plan.layer, policies.evaluate(plan.document, namespaces))
        except PolicyLoadError as exc:
            return broken(plan.layer, exc.message)

    def check_runs(self, runs: Iterable[LayerRun]) -> list[PolicyResult]:
        """The verdict on every successful plan among `runs`; none without `policies`."""
        if not self.enabled:
            return []
        return [
            self.check(run.plan)
            for run in runs
            if run.plan is not None and run.outcome in (Outcome.OK, Outcome.CHANGES)
        ]


def log_policies(console: Console, results: Iterable[PolicyResult]) -> None:
    """Every message in full, for the job log (the dashboard keeps the first few)."""
    for result in results:
        for kind, messages in (("FAIL", result.failures), ("WARN", result.warnings)):
            for message in messages:
                console.print(
                    f"policy {kind} {result.layer}: {message}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
