"""What the dashboard shows of one layer's plan, as one pure function of its plan record.

Every plan-derived line of a layer's section on the dashboard (the destroy callout, the drift
warning, the summary with the counts, the plan text) comes from `layer_view` and from nowhere
else, so that "what the reviewer saw" has one definition. `view_digest` is sha256 over
`layer_view`'s output with the full plan text: whatever the view renders (today, or after a
redesign of it) is covered by the digest recorded with the plan at review time and recomputed
from the fresh plan at `/apply` (`core/reviewed.py`). Change what the view shows here, never by
adding plan-derived Markdown elsewhere, or `/apply` stops checking it.
"""

from __future__ import annotations

import hashlib

from infra_pipeline.core.dashboard.model import PlanRecord, Status
from infra_pipeline.core.md import code
from infra_pipeline.core.plan_text import fence_for, to_diff


def layer_view(name: str, record: PlanRecord, text: str | None = None) -> list[str]:
    """The Markdown lines of `name`'s plan section; `text` is the plan text as it fits in the
    comment (the record's own, whole, when None)."""
    shown = record.text if text is None else text
    counts = record.counts.short() if record.has_changes else "no changes"
    out = [f'<a name="plan-{name}"></a>']
    if record.destructive:
        named = [f"{code(a)} (destroy)" for a in record.destroys]
        named += [f"{code(a)} (replace)" for a in record.replaces]
        more = f" and {record.more_destructive} more" if record.more_destructive else ""
        out.append(f"⚠️ **{name}** destroys or replaces: {', '.join(named)}{more}")
        out.append("")
    if record.drift:
        out.append(f"⚠️ **{name}**: {record.drift} resources changed outside Terraform (drift)")
        out.append("")
    lines = to_diff(shown)
    fence = fence_for(lines)
    out += [f"<details><summary>Plan: {name} ({counts})</summary>", "", f"{fence}diff"]
    out += [*lines, fence, "", "</details>", ""]
    return out


def view_digest(name: str, record: PlanRecord) -> str:
    """sha256 of `layer_view` with the whole text: the reviewed rendering, in 64 hex digits."""
    rendered = "\n".join(layer_view(name, record))
    return hashlib.sha256(rendered.encode()).hexdigest()


def row_detail(record: PlanRecord) -> str:
    """The layer's cell in the stage table: its counts (and drift)."""
    detail = record.counts.short() if record.has_changes else "no changes"
    if record.drift:
        detail += f", drift: {record.drift}"
    return detail


def row_status(record: PlanRecord) -> Status:
    """⚠️ when the plan destroys, replaces or found drift; ✅ otherwise."""
    return Status.WARNING if record.destructive or record.drift else Status.OK
