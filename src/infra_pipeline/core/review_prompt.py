"""What the AI reviewer is shown, and the review body it produces. Pure: no I/O here.

The prompt is built from the PR's diff and the plan summaries, with secrets masked first and
the whole kept within a token budget. Infrastructure files go first, then the plans' text,
then the rest of the diff; whatever does not fit is named, not silently dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from enum import StrEnum

from msgspec import Struct

from ..models import PlanResult
from . import md
from .redact import redact

CHARS_PER_TOKEN = 4
# A cut-off file is still worth sending when this much of it fits.
MIN_PARTIAL_CHARS = 600
# Room kept for the closing note that names the files left out.
FOOTER_CHARS = 400
DESTRUCTIVE_SHOWN = 50
INFRA_SUFFIXES = (".tf", ".tf.json", ".hcl", ".tfvars", ".tfvars.json")
INFRA_NAMES = ("infra.yaml", "infra.yml")
REVIEW_MARKER = "<!-- infra-review -->"
GITHUB_BODY_LIMIT = 65_000

SYSTEM_PROMPT = """\
You review pull requests to an infrastructure-as-code repository (Terraform / OpenTofu / \
Terragrunt), given the diff and the Terraform plan of each affected layer.

Answer in GitHub Markdown, in this order:
1. **Risk**: begin with `Risk: low`, `Risk: medium` or `Risk: high`, then what could go wrong \
when this is applied: resources destroyed or replaced (and whether data is lost), security \
(IAM and policies, network exposure, secrets, encryption), and blast radius (which layers and \
environments, what depends on them). Say "none found" for a category with nothing to report.
2. **Remarks**: correctness, drift between the code and the plan, style and suggestions; short \
bullets, most important first.

Be concise and concrete: name resources and files. Do not restate the diff. Values shown as \
*** were masked before you saw them; do not comment on the masking. If part of the input was \
left out for length, do not guess about it.\
"""


class _Fate(StrEnum):
    SENT = "sent"
    CUT = "cut"
    LEFT_OUT = "left out"


class LayerSummary(Struct, frozen=True):
    name: str
    counts_short: str  # "+2 ~1 -0"
    destructive: tuple[str, ...]  # "delete aws_db_instance.main", "replace …"
    plan_excerpt: str  # Terraform's text, sensitive values already masked by Terraform

    @classmethod
    def from_plan(cls, plan: PlanResult) -> LayerSummary:
        return cls(
            name=plan.layer,
            counts_short=plan.counts.short(),
            destructive=tuple(f"{c.kind.value} {c.address}" for c in plan.destructive),
            plan_excerpt=plan.text,
        )


class ReviewInput(Struct, frozen=True):
    pr_number: int
    title: str
    diff: str
    layers: tuple[LayerSummary, ...]
    touched_layers: tuple[str, ...]

    @property
    def destructive(self) -> bool:
        return any(layer.destructive for layer in self.layers)


class Prompt(Struct, frozen=True):
    system: str
    user: str
    files_sent: tuple[str, ...]  # whole
    files_cut: tuple[str, ...]  # sent in part
    files_left_out: tuple[str, ...]

    @property
    def estimated_tokens(self) -> int:
        return estimate_tokens(self.system + self.user)


class FileDiff(Struct, frozen=True):
    path: str
    text: str

    @property
    def is_infra(self) -> bool:
        name = self.path.rsplit("/", 1)[-1]
        return name in INFRA_NAMES or (
            name.endswith(INFRA_SUFFIXES) and name != ".terraform.lock.hcl"
        )


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def split_diff(diff: str) -> list[FileDiff]:
    """A unified `git diff` split per file, in order; the path is the new name."""
    chunks = re.split(r"(?m)^(?=diff --git )", diff)
    files = []
    for chunk in chunks:
        if not chunk.strip():
            continue
        header = re.match(r'diff --git "?a/.*?"? "?b/(.*?)"?$', chunk.split("\n", 1)[0])
        files.append(FileDiff(header.group(1) if header else "(unnamed)", chunk))
    return files


def build_prompt(review: ReviewInput, *, budget_tokens: int, secrets: Iterable[str]) -> Prompt:
    """The system and user messages, secrets masked, within `budget_tokens` (estimated)."""
    secrets = tuple(secrets)
    budget = budget_tokens * CHARS_PER_TOKEN - len(SYSTEM_PROMPT)
    head = redact(_overview(review), secrets)
    remaining = budget - len(head) - FOOTER_CHARS

    files = split_diff(redact(review.diff, secrets))
    plans = [
        FileDiff(layer.name, redact(layer.plan_excerpt.strip("\n"), secrets))
        for layer in review.layers
        if layer.plan_excerpt.strip()
    ]
    sections = (
        ("## Diff: infrastructure files", [f for f in files if f.is_infra], True),
        ("## Terraform plan output (per layer)", plans, False),
        ("## Diff: other files", [f for f in files if not f.is_infra], True),
    )
    parts = [head]
    fates: dict[str, _Fate] = {}  # per diff path
    for title, items, is_diff in sections:
        if not items:
            continue
        heading = f"\n{title}\n"
        remaining -= len(heading)
        blocks, remaining = _fit(items, "diff" if is_diff else "", remaining)
        parts.append(heading)
        for item in items:
            block, fate = blocks.get(item.path, ("", _Fate.LEFT_OUT))
            parts.append(block)
            if is_diff:
                fates[item.path] = fate
    left_out = [path for path, fate in fates.items() if fate is _Fate.LEFT_OUT]
    if left_out:
        parts.append(_footer(left_out))
    # The overview is bounded (DESTRUCTIVE_SHOWN) but must never push past the budget.
    user = "".join(parts)[: max(budget, 0)]
    return Prompt(
        SYSTEM_PROMPT,
        user,
        files_sent=tuple(p for p, fate in fates.items() if fate is _Fate.SENT),
        files_cut=tuple(p for p, fate in fates.items() if fate is _Fate.CUT),
        files_left_out=tuple(left_out),
    )


def _fit(items: list[FileDiff], lang: str, room: int) -> tuple[dict[str, tuple[str, _Fate]], int]:
    """Blocks for the items that fit in `room` chars: every item that fits whole (in order),
    then the first ones that do not, cut, while a useful part of them still fits."""
    blocks: dict[str, tuple[str, _Fate]] = {}
    for item in items:
        block = f"\n{md.fenced(item.text, lang)}\n"
        if len(block) <= room:
            blocks[item.path] = (block, _Fate.SENT)
            room -= len(block)
    for item in items:
        if item.path in blocks or room < MIN_PARTIAL_CHARS:
            continue
        note = f"\n[… rest of {item.path} left out for length]"
        # 40: the fences and newlines around the block.
        partial = item.text[: room - len(note) - 40].rsplit("\n", 1)[0]
        block = f"\n{md.fenced(partial + note, lang)}\n"
        blocks[item.path] = (block, _Fate.CUT)
        room -= len(block)
    return blocks, room


def _overview(review: ReviewInput) -> str:
    lines = [
        f"Pull request #{review.pr_number}: {review.title}",
        f"Touched layers: {', '.join(review.touched_layers) or 'none'}",
        "",
        "## Plan summary (per layer: +add ~change -destroy)",
    ]
    if not review.layers:
        lines.append("No plan is available for this pull request.")
    for layer in review.layers:
        lines.append(f"- {layer.name}: {layer.counts_short}")
        for item in layer.destructive[:DESTRUCTIVE_SHOWN]:
            lines.append(f"  - DESTRUCTIVE: {item}")
        if len(layer.destructive) > DESTRUCTIVE_SHOWN:
            lines.append(f"  - … and {len(layer.destructive) - DESTRUCTIVE_SHOWN} more")
    return "\n".join(lines) + "\n"


def _footer(left_out: list[str]) -> str:
    text = "\n(Left out for length: "
    shown: list[str] = []
    for path in left_out:
        if len(text) + len(", ".join([*shown, path])) > FOOTER_CHARS - 30:
            break
        shown.append(path)
    rest = len(left_out) - len(shown)
    return text + ", ".join(shown) + (f" and {rest} more" if rest else "") + ")\n"


def review_body(review: ReviewInput, answer: str, *, model: str, prompt: Prompt) -> str:
    """The PR review: destructive changes from the plans first (facts, not the model's
    opinion), then the model's answer (which itself starts with risk), then what it saw."""
    parts = [REVIEW_MARKER, "## 🤖 AI review"]
    if review.destructive:
        lines = ["> [!WARNING]", "> **Destroys or replaces resources**"]
        for layer in review.layers:
            if layer.destructive:
                shown = ", ".join(md.code(d) for d in layer.destructive[:10])
                more = len(layer.destructive) - 10
                lines.append(
                    f"> - `{layer.name}`: {shown}" + (f" and {more} more" if more > 0 else "")
                )
        parts.append("\n".join(lines))
    parts.append(answer.strip() or "_The model returned no text._")
    seen = f"{len(prompt.files_sent)} file(s) in full"
    if prompt.files_cut:
        seen += f", {len(prompt.files_cut)} in part"
    if prompt.files_left_out:
        seen += f", {len(prompt.files_left_out)} left out for length"
    parts.append(
        f"<sub>Model {md.code(model)} · saw {seen} · secrets masked before sending · "
        "comment `/review` to run again</sub>"
    )
    body = "\n\n".join(parts)
    if len(body) > GITHUB_BODY_LIMIT:
        body = body[: GITHUB_BODY_LIMIT - 40] + "\n\n… (cut to GitHub's size limit)"
    return body
