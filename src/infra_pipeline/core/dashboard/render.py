"""The dashboard model as the spec's Markdown comment, and back.

The body follows the spec's schema: the marker line, the heading, any destroys and replaces
called out, the stage table (a row per layer the commit is about, the untouched ones folded
into one row) and the next-step block; then, per planned layer, what `plan_view.layer_view`
shows (summary in words, addresses by action, the diff in a `<details>` fold), per failed layer
Terraform's own errors, and last the state as versioned JSON in an HTML comment. `parse` reads
that JSON, and the plan texts from the visible details (`plan_text.from_diff` inverts the diff
markers exactly), so `parse(render(m)) == m` for every model whose plans fit; longer plans are
cut (head and tail kept) and the cut text is what comes back. Text from outside (plan output,
error messages, lock notes) only ever lands in an escaped table cell, a code span, a fenced
block or the JSON, so it cannot break the table, close the `<details>` or inject HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

import msgspec
from msgspec.structs import replace

from infra_pipeline.core.custom_steps import tail
from infra_pipeline.core.dashboard.model import (
    Dashboard,
    LayerState,
    Row,
    Stage,
    Status,
)
from infra_pipeline.core.dashboard.plan_view import (
    destructive_line,
    diagnostic_lines,
    layer_view,
    row_detail,
)
from infra_pipeline.core.dashboard.step_view import step_lines, steps_cell
from infra_pipeline.core.dashboard.view import next_step
from infra_pipeline.core.md import code
from infra_pipeline.core.plan_text import (
    clean,
    diff_cost,
    fence_for,
    from_diff,
    from_diff_v1,
    from_diff_v2,
    one_line,
    size,
    to_diff,
    trim,
)
from infra_pipeline.errors import InfraError
from infra_pipeline.models import Outcome, StateLock, StepOutcome, StepResult
from infra_pipeline.records import lean

LIMIT: Final = 65_536  # GitHub's maximum comment body, in characters
SUMMARY_LIMIT: Final = 1_000_000  # a step summary above 1 MiB is dropped by GitHub
# v2: rows default to "pending", one marker per diff line; v3: every diff line one column
# right, so the plan keeps its alignment. v1 and v2 still parse.
VERSION: Final = 3
MARKER: Final = re.compile(r"<!-- infra-dashboard:([0-9a-f]{7}) -->")
_STATE: Final = re.compile(r"<!-- infra-state:v(\d+) (\{.*\}) -->")
_FENCE: Final = re.compile(r"(`{3,})diff")
# The characters that mean something inline (emphasis, code, links, images, HTML, entities,
# strikethrough, table pipes). Backslash-escaped they are plain text; block syntax (`#`, `-`,
# `>`) means nothing inside a table cell.
_PUNCT: Final = re.compile(r"([\\`*_\[\]<>&|~!])")
_CODE_SPAN: Final = re.compile(r"`([^`]+)`")
# Layers named in the folded row: few enough that the table keeps its one-line rows.
_UNTOUCHED_NAMED: Final = 3
_PLAN_LINES: Final = 40  # from a layer's anchor to its diff block, at most
_STALE_V1: Final = "run stopped without reporting"


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
    """The comment body: under GitHub's limit, custom steps' output and plan details
    shortened first when needed."""
    texts = {layer.name: layer.record.text for layer in m.layers if layer.record is not None}
    body = _render(m, texts)
    if size(body) < LIMIT:
        return body
    m = _fit_step_output(m)
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


def _fit_step_output(m: Dashboard) -> Dashboard:
    """`m` with its custom steps' output tails cut so that together they take at most a
    quarter of a comment (each is shown and kept in the state): passing steps' first, then
    an even share of the rest. Their results stay; the job log has the whole output."""
    tails = [step for layer in m.layers for step in layer.steps if step.tail]
    if sum(size(step.tail) for step in tails) * 2 <= LIMIT // 4:
        return m
    failing = [step for step in tails if step.outcome is not StepOutcome.PASSED]
    share = (LIMIT // 8) // max(len(failing), 1)

    def cut(step: StepResult) -> StepResult:
        if step.outcome is StepOutcome.PASSED or share < 200:
            return replace(step, tail="")
        return replace(step, tail=tail(step.tail, limit=share - 100))

    layers = tuple(replace(layer, steps=tuple(map(cut, layer.steps))) for layer in m.layers)
    return replace(m, layers=layers)


def _share(costs: Mapping[str, int], budget: int) -> dict[str, int]:
    """Split `budget` so that small plans stay whole and the big ones share the rest."""
    allot: dict[str, int] = {}
    left = budget
    ordered = sorted(costs.items(), key=lambda item: item[1])
    for index, (name, cost) in enumerate(ordered):
        allot[name] = min(cost, left // (len(ordered) - index))
        left -= allot[name]
    return allot


def _render(m: Dashboard, texts: Mapping[str, str], *, plans: bool = True) -> str:
    out = [marker(m.head_sha), f"## ⚙️ Commit `{m.sha7}` Pipeline", ""]
    out += _callout(m)
    out += [
        "| Stage | Status | Output | Time |",
        "|:---|:---:|:---|:---|",
        _row(m, Stage.CI.label, m.ci),
    ]
    untouched = [layer.name for layer in m.layers if layer.plan.status is Status.UNTOUCHED]
    for layer in m.layers:
        if layer.plan.status is not Status.UNTOUCHED:
            out.append(_row(m, f"Plan: {cell(layer.name)}", layer.plan, layer))
    if untouched:
        out.append(_untouched_row(untouched))
    if m.policy_results:
        out.append(_policy_row(m))
    out.append(
        _row(m, Stage.APPLY.label, m.apply, apply_detail=_apply_detail(m), waits=_apply_waits(m))
    )
    out.append(_row(m, Stage.REVIEW.label, m.review))
    for stage in (Stage.HEALTH, Stage.E2E, Stage.MERGE_QUEUE):
        row = m.row(stage)
        if row is not None:
            out.append(_row(m, stage.label, row))
    out += ["", "<!-- next-step -->", next_step(m), "<!-- /next-step -->", ""]
    out += _policy_messages(m)
    for layer in m.layers:
        if layer.record is not None:
            out.append(f'<a name="{anchor(m, layer.name)}"></a>')
            lines = layer_view(layer.name, layer.record, texts[layer.name])
            out += lines if plans else [*lines[: _fold(lines)], ""]
        elif layer.diagnostics or layer.plan.status is Status.FAILED:
            out += _failure(m, layer)
        if layer.steps:
            out += step_lines(layer.name, layer.steps)
    out.append(_state_comment(m))
    return "\n".join(out) + "\n"


def _fold(lines: list[str]) -> int:
    """Where a layer's `<details>` fold starts (the job summary leaves it out)."""
    return next(i for i, line in enumerate(lines) if line.startswith("<details>"))


def anchor(m: Dashboard, layer: str) -> str:
    """The link target of a layer's plan: unique per commit, so links never cross dashboards."""
    return f"plan-{m.sha7}-{layer}"


def _callout(m: Dashboard) -> list[str]:
    """Destroys and replaces, named before anything else: the one thing no reviewer may miss."""
    lines = []
    for layer in m.layers:
        record = layer.record
        if record is not None and record.destructive and layer.applied is not Outcome.OK:
            lines.append(
                f"- [{code(layer.name)}](#{anchor(m, layer.name)}) {destructive_line(record)}"
            )
    if not lines:
        return []
    return ["⚠️ **This commit destroys or replaces resources:**", "", *lines, ""]


def _untouched_row(names: list[str]) -> str:
    shown = ", ".join(names[:_UNTOUCHED_NAMED])
    more = len(names) - _UNTOUCHED_NAMED
    listed = shown + (f" and {more} more" if more > 0 else "")
    label = f"Plan: {len(names)} other{'s' if len(names) != 1 else ''}"
    return f"| {label} | {Status.UNTOUCHED.icon} | {cell('not touched: ' + listed)} | - |"


def _failure(m: Dashboard, layer: LayerState) -> list[str]:
    """A failed layer: Terraform's own errors, the log a link away."""
    out = [
        f'<a name="{anchor(m, layer.name)}"></a>',
        f"#### ❌ Plan: {code(layer.name)} failed",
        "",
    ]
    if layer.applied is Outcome.FAILED:
        out[1] = f"#### ❌ Apply: {code(layer.name)} failed"
    for diag in layer.diagnostics:
        out += [*diagnostic_lines(diag), ""]
    if not layer.diagnostics:
        out += [cell(layer.plan.detail or "failed"), ""]
    run = layer.plan.run_id
    if run is not None:
        out += [f"[Full log]({m.run_url(run)})", ""]
    return out


def _row(
    m: Dashboard,
    stage: str,
    row: Row,
    layer: LayerState | None = None,
    apply_detail: str = "",
    waits: list[str] | None = None,
) -> str:
    parts = []
    detail = row.detail or apply_detail
    waiting = layer.waiting_in(m) if layer is not None else None
    if waiting is not None and row.status is Status.RUNNING:
        parts += _waiting(m, waiting)
    parts += waits or []
    if layer is not None and layer.record is not None:
        words = row_detail(layer.record)
        parts.append(f"[{cell(words)}](#{anchor(m, layer.name)})")
    elif layer is not None and layer.diagnostics and row.status is Status.FAILED:
        parts.append(f"[{cell(layer.diagnostics[0].summary)}](#{anchor(m, layer.name)})")
    elif detail:
        parts.append(cell(detail))
    if row.run_id is not None:
        label = "Running..." if row.status is Status.RUNNING else "Log"
        parts.append(f"[{label}]({m.run_url(row.run_id)})")
    elif row.status is Status.RUNNING:
        parts.append("Running...")
    if layer is not None and layer.steps:
        parts.append(cell(steps_cell(layer.steps)))
    if layer is not None and layer.lock:
        parts.append("🔒 " + cell(layer.lock))
    output = " · ".join(parts) or "-"
    return f"| {stage} | {row.status.icon} | {output} | {_time(row)} |"


def _waiting(m: Dashboard, lock: StateLock, *, name: bool = False) -> list[str]:
    """What a row says while its layer waits for a Terraform state lock: the holder, since
    when, and a link to the holder's run when the holder names one."""
    who = f"`{lock.layer}` is waiting" if name else "waiting"
    parts = [cell(f"{who} for the state lock {lock.describe()}")]
    if lock.run_id is not None:
        parts.append(f"[holder: workflow run {lock.run_id}]({m.run_url(lock.run_id)})")
    return parts


def _apply_waits(m: Dashboard) -> list[str]:
    """The Apply row's notes on the layers whose apply waits for a state lock (the re-plan
    before an apply waits too): the plan rows show their last plan meanwhile."""
    if m.apply.status is not Status.RUNNING:
        return []
    return [
        part
        for layer in m.layers
        if layer.waiting is not None and layer.plan.status is not Status.RUNNING
        for part in _waiting(m, layer.waiting, name=True)
    ]


def _policy_row(m: Dashboard) -> str:
    """One row for the commit's policy check: failed (until approved), approved, or passed."""
    results = m.policy_results
    failed = [r.layer for r in results if r.failures]
    failures = sum(len(r.failures) for r in results)
    warnings = sum(len(r.warnings) for r in results)
    warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    what = f"{failures} failure{'s' if failures != 1 else ''} in {', '.join(failed)}"
    approval = m.policy_approval
    if m.policy_blocked():
        status, detail = Status.FAILED, f"{what}{warned}: needs /approve_policies"
    elif failures and approval is not None:
        status, detail = Status.OK, f"{what} approved by @{approval.login}{warned}"
    else:
        layers = f"{len(results)} layer{'s' if len(results) != 1 else ''}"
        status, detail = Status.OK, f"passed on {layers}{warned}"
    return f"| Policy | {status.icon} | {cell(detail)} | - |"


def _policy_messages(m: Dashboard) -> list[str]:
    """Every policy message, by layer: failures (❌) first, then warnings (⚠️)."""
    lines = []
    for result in m.policy_results:
        for icon, messages in ((Status.FAILED.icon, result.failures), ("⚠️", result.warnings)):
            lines += [f"- {icon} {code(result.layer)}: {cell(text)}" for text in messages]
    if not lines:
        return []
    return ["#### Policy", "", *lines, ""]


def _apply_detail(m: Dashboard) -> str:
    return ", ".join(
        f"{layer.name} {Status.OK.icon if layer.applied is Outcome.OK else Status.FAILED.icon}"
        for layer in m.layers
        if layer.applied in (Outcome.OK, Outcome.FAILED)
    )


def _time(row: Row) -> str:
    when = row.finished_at or row.started_at
    return "-" if when is None else stamp(when)


def stamp(when: datetime) -> str:
    """A time as every reader can place it: "2026-11-30 12:55 UTC"."""
    return (when if when.tzinfo is None else when.astimezone(UTC)).strftime("%Y-%m-%d %H:%M UTC")


def cell(text: str) -> str:
    """Untrusted text as plain text inside a table cell or link text: one line, escaped; a
    `quoted` part becomes a code span (a backslash-escaped backtick would show literally)."""
    flat = one_line(text, 500)
    parts = []
    last = 0
    for span in _CODE_SPAN.finditer(flat):
        parts.append(_PUNCT.sub(r"\\\1", flat[last : span.start()]))
        parts.append(code(span.group(1)).replace("|", "\\|"))
        last = span.end()
    parts.append(_PUNCT.sub(r"\\\1", flat[last:]))
    return "".join(parts)


def _state_comment(m: Dashboard) -> str:
    # The plans' texts are in the visible details (`_plan_text` reads them back from there).
    layers = tuple(
        replace(layer, record=replace(layer.record, text="")) if layer.record else layer
        for layer in m.layers
    )
    data = msgspec.json.encode(lean(replace(m, layers=layers))).decode()
    # `<`, `>` and `&` only occur inside JSON strings; escaped, no text can end the comment.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"<!-- infra-state:v{VERSION} {data} -->"


def parse(body: str) -> Dashboard:
    """The model back from a comment body; `DashboardError` for anything else. Dashboards
    written with state v1 (by an older infra) are read too."""
    lines = body.split("\n")
    head = MARKER.fullmatch(lines[0])
    if head is None:
        raise DashboardError("the first line is not an infra-dashboard marker")
    state = next((s for line in reversed(lines) if (s := _STATE.fullmatch(line))), None)
    if state is None:
        raise DashboardError("the infra-state comment is missing")
    version = state.group(1)
    if version not in ("1", "2", str(VERSION)):
        raise DashboardError(f"state version v{version} is not v{VERSION}: upgrade infra")
    try:
        data = json.loads(state.group(2))
        model = msgspec.convert(_from_v1(data) if version == "1" else data, Dashboard)
    except ValueError as exc:
        raise DashboardError(f"bad state: {_reason(exc)}") from None
    if model.sha7 != head.group(1):
        raise DashboardError(f"the marker says {head.group(1)}, the state {model.sha7}")
    layers = []
    for layer in model.layers:
        if layer.record is not None:
            text = _plan_text(lines, model, layer.name, version=version)
            layer = replace(layer, record=replace(layer.record, text=text))
        layers.append(layer)
    return replace(model, layers=tuple(layers))


def _reason(exc: ValueError) -> str:
    if isinstance(exc, msgspec.ValidationError):
        return str(exc)
    return str(exc).splitlines()[0] if str(exc) else "not JSON"


def _from_v1(data: object) -> object:
    """A v1 state in v2's terms. v1 left a row's status out when it was "skipped" (its
    default, which also meant "not run yet"), and showed a dead run, drift and destroys all
    as "warning"; v2 tells them apart."""
    if not isinstance(data, dict):
        return data
    rows: list[dict[str, object]] = [
        row
        for key in ("ci", "apply", "review", "health", "e2e")
        if isinstance(row := data.get(key), dict)
    ]
    for layer in data.get("layers") or []:
        if isinstance(layer, dict) and isinstance(layer.get("plan"), dict):
            plan = layer["plan"]
            rows.append(plan)
            record = layer.get("record")
            if plan.get("status") == "warning" and isinstance(record, dict):
                destructive = record.get("destroys") or record.get("replaces")
                if not destructive and not record.get("more_destructive"):
                    plan["status"] = "drift"
    for row in rows:
        row.setdefault("status", "skipped")
        if row.get("status") == "warning" and row.get("detail") == _STALE_V1:
            row["status"] = "stale"
    return data


def _plan_text(lines: list[str], m: Dashboard, name: str, *, version: str) -> str:
    v1 = version == "1"
    back = {"1": from_diff_v1, "2": from_diff_v2}.get(version, from_diff)
    target = f'<a name="{"plan-" + name if v1 else anchor(m, name)}"></a>'
    try:
        start = lines.index(target)
    except ValueError:
        raise DashboardError(f"the plan details of {name} are missing") from None
    for index in range(start + 1, min(start + _PLAN_LINES, len(lines))):
        fence = _FENCE.fullmatch(lines[index])
        if fence is None:
            continue
        close = fence.group(1)
        try:
            end = lines.index(close, index + 1)
            return back(lines[index + 1 : end])
        except ValueError:
            break
    raise DashboardError(f"the plan of {name} is not a diff block")


def render_for_summary(m: Dashboard) -> str:
    """The dashboard for the job summary: everything but the plans' folds, because the job
    summary shows each plan once, in full (`step_summary`)."""
    texts = {layer.name: layer.record.text for layer in m.layers if layer.record is not None}
    return _render(m, texts, plans=False)


def step_summary(m: Dashboard | None, full_plans: Mapping[str, str]) -> str:
    """The job summary (`$GITHUB_STEP_SUMMARY`): the dashboard when there is one (without the
    plans' folds), then every layer's full plan once, in the dashboard's diff style, each
    trimmed so the whole stays within GitHub's 1 MiB limit for it (a summary above it is
    dropped)."""
    parts = [render_for_summary(m)] if m is not None else []
    budget = (SUMMARY_LIMIT - size("\n".join(parts))) // max(len(full_plans), 1) - 200
    for name, text in full_plans.items():
        lines = to_diff(trim(clean(text), budget, "the job log"))
        fence = fence_for(lines)
        parts += [f"### The plan of {name}", "", f"{fence}diff", *lines, fence, ""]
    return "\n".join(parts)
