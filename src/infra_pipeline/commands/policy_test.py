"""`infra policy test PLAN_JSON`: the `policies:` of infra.yaml (or `--policy DIR`) run
locally against a plan in `terraform show -json` shape, as the pipeline runs them on a pull
request's plans. For writing and debugging policies before they are merged.

Exit codes: 0 every policy passed (warnings allowed), 1 a policy failed, 2 the plan file or
the policies cannot be read (a usage error).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from ..adapters.rego import PolicyLoadError, RegoPolicies, local_modules
from ..config import Config
from ..core.policy_check import result_of
from ..errors import ExitCode, InfraError

DEFAULT_PATHS = ("policy/",)
DEFAULT_NAMESPACES = ("main",)


def run_policy_test(
    plan_file: Path,
    *,
    config: Config | None,
    cwd: Path,
    policy: Sequence[Path],
    namespaces: Sequence[str],
    console: Console,
) -> ExitCode:
    """Check `plan_file` against the policies; print each failure and warning."""
    document = _read_plan(plan_file)
    if policy:
        root, paths = cwd, tuple(str(p) for p in policy)
    elif config is not None and config.policies is not None:
        root, paths = config.root, config.policies.paths
    else:
        root, paths = cwd, DEFAULT_PATHS
    if not namespaces:
        namespaces = config.policies.namespaces if config and config.policies else ()
    namespaces = tuple(namespaces) or DEFAULT_NAMESPACES
    try:
        modules = local_modules(root, paths)
        answers = RegoPolicies(modules).evaluate(document, namespaces)
    except PolicyLoadError as exc:
        raise InfraError(exc.message, exc.hint, ExitCode.USAGE) from exc
    result = result_of(plan_file.name, answers)
    for message in result.failures:
        console.print(f"FAIL - {plan_file} - {message}", markup=False, soft_wrap=True)
    for message in result.warnings:
        console.print(f"WARN - {plan_file} - {message}", markup=False, soft_wrap=True)
    console.print(
        f"{len(modules)} policy file{'s' if len(modules) != 1 else ''}, namespaces "
        f"{', '.join(namespaces)}: {len(result.failures)} failure"
        f"{'s' if len(result.failures) != 1 else ''}, {len(result.warnings)} warning"
        f"{'s' if len(result.warnings) != 1 else ''}",
        markup=False,
    )
    return ExitCode.FAILURE if result.failed else ExitCode.OK


def _read_plan(plan_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(plan_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InfraError(
            f"cannot read {plan_file}: {exc.strerror}",
            "pass the JSON of a plan: terraform show -json PLANFILE > plan.json",
            ExitCode.USAGE,
        ) from exc
    except ValueError as exc:
        raise InfraError(
            f"{plan_file} is not JSON: {exc}",
            "pass the JSON of a plan: terraform show -json PLANFILE > plan.json",
            ExitCode.USAGE,
        ) from exc
    if not isinstance(data, dict):
        raise InfraError(
            f"{plan_file} is not a plan in `terraform show -json` shape (not an object)",
            "pass the JSON of a plan: terraform show -json PLANFILE > plan.json",
            ExitCode.USAGE,
        )
    return data
