"""The dashboard model as the spec's Markdown comment, and back.

The body follows the spec's schema: the marker line, the heading, the stage table and the
next-step block, then one collapsed `<details>` per planned layer and, last, the state as
versioned JSON in an HTML comment. `parse` reads that JSON, and the plan texts from the visible
details (`plan_text.from_diff` inverts the diff markers exactly), so `parse(render(m)) == m` for
every model whose plans fit; longer plans are cut (head and tail kept) and the cut text is what
comes back. Text from outside (plan output, error messages, lock notes) only ever lands in an
escaped table cell, a code span, a fenced block or the JSON, so it cannot break the table,
close the `<details>` or inject HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC
from typing import Final

from pydantic import TypeAdapter, ValidationError

from infra_pipeline.core.dashboard.model import (
    Dashboard,
    LayerState,
    Row,
    Stage,
    Status,
)
from infra_pipeline.core.dashboard.plan_view import layer_view
from infra_pipeline.core.dashboard.view import next_step
from infra_pipeline.core.plan_text import (
    clean,
    diff_cost,
    fence_for,
    from_diff,
    one_line,
    size,
    to_diff,
    trim,
)
from infra_pipeline.errors import InfraError
from infra_pipeline.models import Outcome

LIMIT: Final = 65_536  # GitHub's maximum comment body, in characters
SUMMARY_LIMIT: Final = 1_000_000  # a step summary above 1 MiB is dropped by GitHub
VERSION: Final = 1
MARKER: Final = re.compile(r"<!-- infra-dashboard:([0-9a-f]{7}) -->")
_STATE: Final = re.compile(r"<!-- infra-state:v(\d+) (\{.*\}) -->")
_FENCE: Final = re.compile(r"(`{3,})diff")
_ADAPTER: Final = TypeAdapter(Dashboard)
_NO_TEXT: Final = {"layers": {"__all__": {"record": {"text"}}}}
# The characters that mean something inline (emphasis, code, links, images, HTML, entities,
# strikethrough, table pipes). Backslash-escaped they are plain text; block syntax (`#`, `-`,
# `>`) means nothing inside a table cell.
_PUNCT: Final = re.compile(r"([\\`*_\[\]<>&|~!])")


class DashboardError(InfraError):
    """A comment that claims to be a dashboard but cannot be read back."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"the dashboard comment cannot be read: {message}",
            "it was probably edited by hand: delete it, then comment `/plan` to start afresh",
        )


def marker(head_sha: str) -> str:
    """The first line of the dashboard of `head_sha`."""
    return f"<!-- infra-dashboard:{head_sha[:7]} -->"


def render(m: Dashboard) -> str:
    """The comment body: under GitHub's limit, plan details shortened first when needed."""
    texts = {layer.name: layer.record.text for layer in m.layers if layer.record is not None}
    body = _render(m, texts)
    if size(body) < LIMIT:
        return body
    overhead = size(_render(m, dict.fromkeys(texts, "")))
    budget = LIMIT - 1 - overhead - 64 * len(texts)
    for _ in range(8):
        if budget <= 0:
            break
        costs = {name: diff_cost(text) for name, text in texts.items()}
        allot = _share(costs, budget)
        body = _render(m, {name: trim(text, allot[name]) for name, text in texts.items()})
        excess = size(body) - (LIMIT - 1)
        if excess <= 0:
            return body
        budget -= excess + 64
    raise InfraError(
        f"the dashboard of {m.sha7} cannot fit in one comment ({len(m.layers)} layers)",
        "plan fewer layers per pull request",
    )


def _share(costs: Mapping[str, int], budget: int) -> dict[str, int]:
    """Split `budget` so that small plans stay whole and the big ones share the rest."""
    allot: dict[str, int] = {}
    left = budget
    ordered = sorted(costs.items(), key=lambda item: item[1])
    for index, (name, cost) in enumerate(ordered):
        allot[name] = min(cost, left // (len(ordered) - index))
        left -= allot[name]
    return allot


def _render(m: Dashboard, texts: Mapping[str, str]) -> str:
    out = [
        marker(m.head_sha),
        f"## ⚙️ Commit `{m.sha7}` Pipeline",
        "",
        "| Stage | Status | Output | Time |",
        "|:---|:---:|:---|:---|",
        _row(m, Stage.CI.label, m.ci),
    ]
    for layer in m.layers:
        out.append(_row(m, f"Plan: {layer.name}", layer.plan, layer))
    out.append(_row(m, Stage.APPLY.label, m.apply, apply_detail=_apply_detail(m)))
    out.append(_row(m, Stage.REVIEW.label, m.review))
    for stage in (Stage.HEALTH, Stage.E2E, Stage.MERGE_QUEUE):
        row = m.row(stage)
        if row is not None:
            out.append(_row(m, stage.label, row))
    out += ["", "<!-- next-step -->", next_step(m), "<!-- /next-step -->", ""]
    for layer in m.layers:
        if layer.record is not None:
            out += layer_view(layer.name, layer.record, texts[layer.name])
    out.append(_state_comment(m))
    return "\n".join(out) + "\n"


def _row(
    m: Dashboard, stage: str, row: Row, layer: LayerState | None = None, apply_detail: str = ""
) -> str:
    parts = []
    detail = row.detail or apply_detail
    if layer is not None and layer.record is not None:
        parts.append(f"[{cell(detail or 'View')}](#plan-{layer.name})")
    elif detail:
        parts.append(cell(detail))
    if row.run_id is not None:
        label = "Running..." if row.status is Status.RUNNING else "Log"
        parts.append(f"[{label}]({m.run_url(row.run_id)})")
    elif row.status is Status.RUNNING:
        parts.append("Running...")
    if layer is not None and layer.lock:
        parts.append("🔒 " + cell(layer.lock))
    output = " · ".join(parts) or "-"
    return f"| {stage} | {row.status.icon} | {output} | {_time(row)} |"


def _apply_detail(m: Dashboard) -> str:
    return ", ".join(
        f"{layer.name} {Status.OK.icon if layer.applied is Outcome.OK else Status.FAILED.icon}"
        for layer in m.layers
        if layer.applied in (Outcome.OK, Outcome.FAILED)
    )


def _time(row: Row) -> str:
    when = row.finished_at or row.started_at
    if when is None:
        return "-"
    return (when if when.tzinfo is None else when.astimezone(UTC)).strftime("%H:%M")


def cell(text: str) -> str:
    """Untrusted text as plain text inside a table cell or link text: one line, escaped."""
    return _PUNCT.sub(r"\\\1", one_line(text, 500))


def _state_comment(m: Dashboard) -> str:
    data = _ADAPTER.dump_json(m, exclude_defaults=True, exclude=_NO_TEXT).decode()
    # `<`, `>` and `&` only occur inside JSON strings; escaped, no text can end the comment.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"<!-- infra-state:v{VERSION} {data} -->"


def parse(body: str) -> Dashboard:
    """The model back from a comment body; `DashboardError` for anything else."""
    lines = body.split("\n")
    head = MARKER.fullmatch(lines[0])
    if head is None:
        raise DashboardError("the first line is not an infra-dashboard marker")
    state = next((s for line in reversed(lines) if (s := _STATE.fullmatch(line))), None)
    if state is None:
        raise DashboardError("the infra-state comment is missing")
    if state.group(1) != str(VERSION):
        raise DashboardError(f"state version v{state.group(1)} is not v{VERSION}: upgrade infra")
    try:
        model = _ADAPTER.validate_json(state.group(2))
    except ValidationError as exc:
        raise DashboardError(f"bad state: {exc.errors()[0]['msg']}") from None
    if model.sha7 != head.group(1):
        raise DashboardError(f"the marker says {head.group(1)}, the state {model.sha7}")
    layers = []
    for layer in model.layers:
        if layer.record is not None:
            record = replace(layer.record, text=_plan_text(lines, layer.name))
            layer = replace(layer, record=record)
        layers.append(layer)
    return replace(model, layers=tuple(layers))


def _plan_text(lines: list[str], name: str) -> str:
    anchor = f'<a name="plan-{name}"></a>'
    try:
        start = lines.index(anchor)
    except ValueError:
        raise DashboardError(f"the plan details of {name} are missing") from None
    for index in range(start + 1, min(start + 12, len(lines))):
        fence = _FENCE.fullmatch(lines[index])
        if fence is None:
            continue
        close = fence.group(1)
        try:
            end = lines.index(close, index + 1)
            return from_diff(lines[index + 1 : end])
        except ValueError:
            break
    raise DashboardError(f"the plan of {name} is not a diff block")


def step_summary(m: Dashboard | None, full_plans: Mapping[str, str]) -> str:
    """The job summary (`$GITHUB_STEP_SUMMARY`): the dashboard when there is one, then every
    layer's full plan, each trimmed so the whole stays within GitHub's 1 MiB limit for it (a
    summary above it is dropped)."""
    parts = [render(m)] if m is not None else []
    parts += ["## Full plans", ""]
    budget = (SUMMARY_LIMIT - size("\n".join(parts))) // max(len(full_plans), 1) - 200
    for name, text in full_plans.items():
        shown = trim(clean(text), budget, "the job log")
        lines = to_diff(shown)
        fence = fence_for(lines)
        parts += [f"### {name}", "", f"{fence}diff", *lines, fence, ""]
    return "\n".join(parts)
