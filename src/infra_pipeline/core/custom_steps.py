"""Custom steps (`steps:` in infra.yaml): the pure decisions around running them.

Which steps a layer runs at a stage is `Config.steps_for`; running one is
`adapters/step_runner.py`. Here: the environment a step gets, what a step's end means for its
layer (a blocking failure stops it, a non-blocking one is only shown), the capped output tail
the dashboard keeps, and the words and icons for each result.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from msgspec import Struct

from ..config import Stage
from ..models import LayerRun, StepOutcome, StepResult

# A step's output as the dashboard keeps it: the last lines, at most this many bytes. Enough
# for a linter's findings; the job log has the whole output.
TAIL_LINES: Final = 40
TAIL_BYTES: Final = 3_000
CUT: Final = "… (earlier output cut; the job log has it all)"


class StepContext(Struct, frozen=True):
    """What a step is told about the run: the pull request (None outside one) and the commit
    whose code is planned or applied ("" when unknown)."""

    pr: int | None = None
    sha: str = ""


NO_CONTEXT: Final = StepContext()  # a local run: no PR, the checkout's commit


def step_env(
    *,
    root: Path,
    layer: str,
    layer_dir: Path,
    stage: Stage,
    context: StepContext,
    planfile: Path | None,
    plan_json: Path | None,
) -> dict[str, str]:
    """The `INFRA_*` variables a step runs with (docs/custom-steps.md lists them). A variable
    with nothing to say is set empty, so a step can tell "not here" from a typo."""
    return {
        "INFRA_ROOT": str(root),
        "INFRA_LAYER": layer,
        "INFRA_LAYER_DIR": str(layer_dir),
        "INFRA_STAGE": stage.value,
        "INFRA_PLANFILE": str(planfile) if planfile is not None else "",
        "INFRA_PLAN_JSON": str(plan_json) if plan_json is not None else "",
        "INFRA_PR": str(context.pr) if context.pr is not None else "",
        "INFRA_SHA": context.sha,
    }


def wants_plan_json(stage: Stage) -> bool:
    """Whether `$INFRA_PLAN_JSON` is written for `stage`: after a plan exists, before it is
    applied. After the apply the plan is spent; before the plan there is none."""
    return stage in (Stage.POST_PLAN, Stage.PRE_APPLY)


def blocks(result: StepResult) -> bool:
    """Whether `result` stops its layer: a blocking step that did not pass."""
    return result.blocking and result.outcome is not StepOutcome.PASSED


def first_block(results: Iterable[StepResult]) -> StepResult | None:
    return next((result for result in results if blocks(result)), None)


def tail(text: str, *, lines: int = TAIL_LINES, limit: int = TAIL_BYTES) -> str:
    """The end of `text`: its last `lines` lines, and of those at most `limit` bytes of UTF-8
    (cut at a line, or inside the first kept line when one line is longer), saying when
    something was cut."""
    kept = text.rstrip("\n").split("\n")  # lines as the process runner reads them
    cut = len(kept) > lines
    kept = kept[-lines:]
    while kept and len("\n".join(kept).encode()) > limit:
        if len(kept) == 1:
            raw = kept[0].encode()[-limit:]
            kept = [raw.decode("utf-8", errors="ignore")]
        else:
            kept = kept[1:]
        cut = True
    return "\n".join([CUT, *kept] if cut else kept)


def icon(result: StepResult) -> str:
    """✅ passed, ❌ a blocking step that did not pass, ⚠️ a non-blocking one."""
    if result.outcome is StepOutcome.PASSED:
        return "✅"
    return "❌" if result.blocking else "⚠️"


def describe(result: StepResult) -> str:
    """`post_plan step `checkov` failed (exit 1)`, `... timed out after 10m (not blocking)`."""
    how = {
        StepOutcome.PASSED: "passed",
        StepOutcome.FAILED: (
            f"failed (exit {result.exit_code})" if result.exit_code is not None else "failed"
        ),
        StepOutcome.TIMED_OUT: f"timed out after {result.timeout}"
        if result.timeout
        else "timed out",
        StepOutcome.CANCELLED: "was cancelled",
    }[result.outcome]
    failed = result.outcome is not StepOutcome.PASSED
    extra = " (not blocking)" if failed and not result.blocking else ""
    return f"{result.stage.value} step `{result.name}` {how}{extra}"


def blocked_message(result: StepResult, layer: str) -> str:
    """The layer's error when `result` stopped it, saying what that means at its stage."""
    what = describe(result)
    if result.stage is Stage.PRE_PLAN:
        return f"{what}: `{layer}` was not planned"
    if result.stage is Stage.POST_PLAN:
        return f"{what}: the plan of `{layer}` cannot be applied"
    if result.stage is Stage.PRE_APPLY:
        return f"{what}: `{layer}` was not applied, nothing changed"
    return f"{what} after `{layer}` was applied: the change IS applied"


def applied_then_blocked(run: LayerRun) -> bool:
    """Whether `run` failed only because a blocking `post_apply` step did not pass: the
    change itself is applied."""
    blocked = first_block(run.steps)
    return blocked is not None and blocked.stage is Stage.POST_APPLY
