"""How a layer's custom steps (`steps:` in infra.yaml) show on the dashboard: one cell in
the layer's row naming each step with its icon, and below the plans a block per layer with
each step's result and its output tail (already redacted and capped when it was recorded),
open when the step did not pass."""

from __future__ import annotations

import html
from collections.abc import Sequence

from infra_pipeline.core.custom_steps import describe, icon
from infra_pipeline.core.md import code
from infra_pipeline.core.plan_text import fence_for
from infra_pipeline.models import StepOutcome, StepResult


def steps_cell(steps: Sequence[StepResult]) -> str:
    """`steps: ✅ tflint ❌ checkov` for the layer's row (plain text; the row escapes it)."""
    return "steps: " + " ".join(f"{icon(step)} {step.name}" for step in steps)


def step_lines(layer: str, steps: Sequence[StepResult]) -> list[str]:
    """The layer's steps block: a heading, then per step its result and output tail."""
    out = [f"#### Steps: {code(layer)}", ""]
    for step in steps:
        took = f" in {step.seconds:g}s" if step.seconds else ""
        out += [f"- {icon(step)} {describe(step)}{took}", ""]
        if not step.tail:
            continue
        lines = step.tail.split("\n")
        fence = fence_for(lines)
        opened = " open" if step.outcome is not StepOutcome.PASSED else ""
        title = html.escape(f"Output of {step.name} (the end)")
        out += [f"<details{opened}><summary>{title}</summary>", ""]
        out += [f"{fence}text", *lines, fence, "", "</details>", ""]
    return out
