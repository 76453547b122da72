"""The file a scale-out plan job leaves for the dashboard job: one layer's CI check and plan.

`infra plan LAYER --results-dir DIR` writes `DIR/LAYER.json`; `infra dashboard refresh
--results-dir DIR` reads them all back. A result holds what the dashboard shows and `/apply`
checks, the `PlanRecord` (fingerprint, counts, destructive addresses, drift, and the plan text
as the dashboard would show it: Terraform masks sensitive values and infra redacts
secret-shaped ones), and never the planfile, which can hold secrets in clear. A plan that
failed carries what the single job's dashboard shows of it: Terraform's own errors (redacted
as they were read, file:line relative to the repository) or the state lock that stopped it;
and every plan carries its custom steps with their output tails (redacted and capped when they
ran), and what the policies (`policies:`) said of each plan, when the plan job could read them
from the default branch. The file travels between jobs as a workflow artifact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal

import msgspec
from msgspec import Struct
from msgspec.structs import replace

from ..config import Config
from ..core.dashboard import steps as dash
from ..core.policy_check import PolicyResult
from ..errors import InfraError
from ..models import Diagnostic, LayerRun, Outcome, StateLock, StepResult
from .validate import LayerCheck

SUFFIX: Final = ".json"
NOT_VALID: Final = "not planned: CI Validate failed"


class LayerResult(Struct, frozen=True):
    layer: str
    head_sha: str  # the commit planned (the checkout)
    base_sha: str  # the pull request's base then; "" when the job could not tell
    check: LayerCheck  # CI Validate of the layer (fmt -check and validate)
    outcome: Outcome  # of the plan: SKIPPED when the check failed
    plan: dash.PlanRecord | None  # the successful plan
    error: str
    started_at: datetime
    validated_at: datetime
    finished_at: datetime
    format: Literal[1] = 1
    # What the dashboard shows of a failed plan (older files have none: a one-line error).
    diagnostics: tuple[Diagnostic, ...] = ()  # Terraform's errors, as `dash.fail_plan` keeps
    lock: StateLock | None = None  # the state lock that stopped the plan
    steps: tuple[StepResult, ...] = ()  # the custom steps the plan ran, in order
    policy: PolicyResult | None = None  # None: not checked (no policies, or no token to read them)


def result_of(
    check: LayerCheck,
    run: LayerRun | None,
    *,
    head_sha: str,
    base_sha: str,
    started_at: datetime,
    validated_at: datetime,
    policy: PolicyResult | None = None,
) -> LayerResult:
    """The result of one layer: its check, and its plan when the check passed (`run`), with
    the policies' verdict on that plan."""
    if run is None:
        run = LayerRun(check.layer, Outcome.SKIPPED, error=NOT_VALID)
    plan = None
    if run.plan is not None and run.outcome in (Outcome.OK, Outcome.CHANGES):
        plan = dash.plan_record(run.plan, head_sha=head_sha, base_sha=base_sha)
    failed = run.outcome is Outcome.FAILED
    errors = tuple(d for d in run.diagnostics if d.severity == "error") if failed else ()
    return LayerResult(
        layer=check.layer,
        head_sha=head_sha,
        base_sha=base_sha,
        check=check,
        outcome=run.outcome,
        plan=plan,
        error=run.error,
        started_at=started_at,
        validated_at=validated_at,
        finished_at=validated_at + timedelta(seconds=run.duration),
        diagnostics=errors[: dash.DIAGNOSTICS_KEPT],
        lock=run.lock,
        steps=run.steps,
        policy=None if plan is None or policy is None else dash.shown_policy(policy),
    )


def with_base(result: LayerResult, base_sha: str) -> LayerResult:
    """`result` planned against `base_sha`, when the plan job could not tell its base."""
    if result.base_sha or result.plan is None:
        return result
    return replace(result, base_sha=base_sha, plan=replace(result.plan, base_sha=base_sha))


def write(directory: Path, result: LayerResult) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.layer}{SUFFIX}"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(result), indent=1) + b"\n")
    return path


def read_all(directory: Path, config: Config) -> list[LayerResult]:
    """Every result in `directory`, in layer order; none when it does not exist (no layer was
    touched, so the workflow downloaded nothing)."""
    if not directory.is_dir():
        return []
    found: dict[str, LayerResult] = {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            result = msgspec.json.decode(path.read_bytes(), type=LayerResult)
        except (OSError, msgspec.DecodeError) as exc:
            raise InfraError(
                f"{path} is not a plan result of this version of infra-pipeline: {exc}",
                "let `infra plan LAYER --results-dir DIR` of the same version write it",
            ) from exc
        if path.stem != result.layer:
            raise InfraError(
                f"{path} holds the result of layer `{result.layer}`",
                "pass the directory the plan jobs wrote, and nothing else",
            )
        if result.layer not in config.layers:
            raise InfraError(
                f"{path} is the result of layer `{result.layer}`, which infra.yaml does not have",
                "plan and refresh the same commit",
            )
        found[result.layer] = result
    return [found[layer.name] for layer in config.ordered_layers if layer.name in found]
