"""What the dashboard shows of one layer's plan, as one pure function of its plan record.

Every plan-derived line of a layer's section on the dashboard comes from `layer_view` and from
nowhere else: the summary in plain words ("2 to add, 1 to replace"), the addresses by action
(a few of each, "and N more"), drift, and the plan as a `diff` block in a `<details>` fold.
So "what the reviewer saw" has one definition: `view_digest` is sha256 over `layer_view`'s
output with the full plan text, recorded with the plan at review time and recomputed from the
fresh plan at `/apply` (`core/reviewed.py`). Change what the view shows here, never by adding
plan-derived Markdown elsewhere, or `/apply` stops checking it. The same words (`summary`) and
diff style (`plan_text.to_diff`) serve the job summary, the drift issue and the merged-PR
summary; the table's cell (`row_detail`) and icon (`row_status`) are derived here too.
"""

from __future__ import annotations

import hashlib
import html
from typing import Final

from infra_pipeline.core.dashboard.model import PlanRecord, Status
from infra_pipeline.core.md import code
from infra_pipeline.core.plan_text import fence_for, to_diff
from infra_pipeline.models import Diagnostic

ADDRESSES_SHOWN: Final = 5  # per action, above the fold; the diff below has them all


def summary(record: PlanRecord) -> str:
    """The plan in plain words: "2 to add, 1 to replace", "no changes", "only outputs change"."""
    if not record.has_changes:
        return "no changes"
    if record.counts.total == 0:
        return "only outputs change"
    return record.counts.words()


def destructive_line(record: PlanRecord) -> str:
    """The destroys and replaces of one plan, named: "replaces `a`; destroys `b` and 3 more"."""
    parts = []
    for verb, listed, total in (
        ("replaces", record.replaces, record.counts.replace),
        ("destroys", record.destroys, record.counts.destroy),
    ):
        if total:
            parts.append(f"{verb} {_named(listed, total)}")
    return "; ".join(parts)


def layer_view(name: str, record: PlanRecord, text: str | None = None) -> list[str]:
    """The Markdown lines of `name`'s plan section; `text` is the plan text as it fits in the
    comment (the record's own, whole, when None). The caller puts the anchor in front."""
    shown = record.text if text is None else text
    out = [f"#### Plan: {code(name)}: {summary(record)}", ""]
    actions = (
        ("⚠️ replace", record.replaces, record.counts.replace),
        ("⚠️ destroy", record.destroys, record.counts.destroy),
        ("add", record.creates, record.counts.add),
        ("change", record.updates, record.counts.change),
    )
    for verb, listed, total in actions:
        if total:
            out.append(f"- **{verb}** {_named(listed, total)}")
    if record.drift:
        out.append(f"- 🔶 **drift**: {record.drift} resources changed outside Terraform")
    if out[-1] != "":
        out.append("")
    lines = to_diff(shown)
    fence = fence_for(lines)
    out += [f"<details><summary>The plan of {html.escape(name)}</summary>", ""]
    out += [f"{fence}diff", *lines, fence, "", "</details>", ""]
    return out


def view_digest(name: str, record: PlanRecord) -> str:
    """sha256 of `layer_view` with the whole text: the reviewed rendering, in 64 hex digits."""
    rendered = "\n".join(layer_view(name, record))
    return hashlib.sha256(rendered.encode()).hexdigest()


def row_detail(record: PlanRecord) -> str:
    """The layer's cell in the stage table: the plan in words (and drift)."""
    detail = summary(record)
    if record.drift:
        detail += f", drift: {record.drift}"
    return detail


def row_status(record: PlanRecord) -> Status:
    """⚠️ when the plan destroys or replaces, 🔶 when it found only drift, ✅ otherwise."""
    if record.destructive:
        return Status.WARNING
    return Status.DRIFT if record.drift else Status.OK


def _named(listed: tuple[str, ...], total: int) -> str:
    shown = listed[:ADDRESSES_SHOWN]
    text = ", ".join(code(address) for address in shown)
    more = total - len(shown)
    if more > 0:
        text += f" and {more} more" if shown else f"{more} resources"
    return text


def diagnostic_lines(diag: Diagnostic) -> list[str]:
    """One of Terraform's errors as the PR shows it: the summary in bold, the file and line
    in the repository, the detail quoted (Terraform's words, never a command line)."""
    where = f" · {code(diag.location)}" if diag.location else ""
    about = f" · {code(diag.address)}" if diag.address else ""
    out = [f"**{_inline(diag.severity.capitalize())}: {_inline(diag.summary)}**{where}{about}"]
    if diag.detail:
        out.append("")
        out += [f"> {_inline(line)}" if line.strip() else ">" for line in diag.detail.split("\n")]
    return out


def _inline(text: str) -> str:
    """Untrusted text as plain inline Markdown: no HTML, no emphasis, no links, no code."""
    escaped = html.escape(text, quote=False)
    return "".join("\\" + c if c in "\\`*_[]#!|~" else c for c in escaped)
