"""What `/apply` checks before it applies a layer: that the fresh plan is exactly what the
dashboard showed the reviewer, and that the dashboard is one this pipeline wrote.

The dashboard is a comment, and a comment is weak evidence: anyone with write access can edit
it, and any workflow in the repository can post one as `github-actions[bot]`. So nothing here
trusts what a dashboard *claims*; it re-derives what it *shows*:

- the body must be exactly what `render` makes of the state it carries (`check_body`): an edit
  of the visible text (hiding a destroy) or of the hidden state breaks that;
- the fresh plan, put in place of the shown one, must render to the same dashboard
  (`compare`): same counts, same destroy/replace list, same plan text, same table cell, the
  same view digest (`core/dashboard/plan_view.py`) as recorded at review time;
- with `INFRA_PLAN_KEY` set, the seal recorded at review time must equal the fresh plan's
  (`core/plan_reader.py`): it covers the sensitive values, and it cannot be made without the key, so
  a forged or edited dashboard cannot carry the seal of a plan nobody reviewed.

Each check returns what differs, in words; the caller refuses with them.
"""

from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from infra_pipeline.core.dashboard.model import Dashboard, PlanRecord
from infra_pipeline.core.dashboard.plan_view import row_detail, row_status
from infra_pipeline.core.dashboard.render import DashboardError, parse, render
from infra_pipeline.core.md import code
from infra_pipeline.core.plan_text import is_cut_of

KEY_HINT = (
    "set the repository secret `INFRA_PLAN_KEY` (a random value, e.g. `openssl rand -hex 32`) "
    "and pass it to the workflow, then comment `/plan` (docs/security.md)"
)


class Shown(Struct, frozen=True):
    """One dashboard comment of the head commit, by the trusted author."""

    comment_id: int
    body: str  # CRLF line ends (a browser edit) already made LF


def check_body(shown: Shown, head_sha: str) -> Dashboard | str:
    """The model `shown` carries, or why it cannot be trusted to say what was shown."""
    try:
        model = parse(shown.body)
    except DashboardError as exc:
        return f"dashboard comment {shown.comment_id} cannot be read: {exc.message}"
    if model.head_sha != head_sha:
        return f"dashboard comment {shown.comment_id} belongs to commit {model.sha7}"
    if render(model) != shown.body:
        return (
            f"dashboard comment {shown.comment_id} was changed by someone other than this "
            "pipeline after it was written (its text no longer matches its recorded state)"
        )
    return model


def compare(shown: Dashboard, name: str, fresh: PlanRecord, *, keyed: bool) -> list[str]:
    """What differs between what `shown` showed of layer `name` and the `fresh` plan's record;
    empty when `/apply` may apply the fresh plan. `keyed`: INFRA_PLAN_KEY is set."""
    layer = shown.layer(name)
    old = layer.record
    if old is None:
        return ["the dashboard shows no plan for it"]
    diffs: list[str] = []
    if old.counts != fresh.counts or old.has_changes != fresh.has_changes:
        diffs.append(f"shown {_counts(old)}, now {_counts(fresh)}")
    for what, before, after in (
        ("destroys", old.destroys, fresh.destroys),
        ("replaces", old.replaces, fresh.replaces),
    ):
        new = [a for a in after if a not in before]
        gone = [a for a in before if a not in after]
        if new:
            diffs.append(f"now {what} {_addresses(new)}, which the dashboard did not show")
        if gone:
            diffs.append(f"no longer {what} {_addresses(gone)}")
    if old.more_destructive != fresh.more_destructive or old.drift != fresh.drift:
        diffs.append(
            f"destroys/replaces beyond the list: shown {old.more_destructive}, now "
            f"{fresh.more_destructive}; drift: shown {old.drift}, now {fresh.drift}"
        )
    if not is_cut_of(old.text, fresh.text):
        diffs.append("the plan text changed" + _first_difference(old.text, fresh.text))
    elif old.digest != fresh.digest:
        diffs.append("the plan as rendered at review time differs (view digest)")
    if layer.plan.detail != row_detail(fresh) or layer.plan.status is not row_status(fresh):
        diffs.append(
            f"the stage table showed {layer.plan.status.icon} `{layer.plan.detail}`, "
            f"the plan now makes it {row_status(fresh).icon} `{row_detail(fresh)}`"
        )
    if not diffs and _visible(shown) != _visible(_with_record(shown, name, old, fresh)):
        diffs.append("the dashboard shows something else for it than the plan renders now")
    if not diffs and old.fingerprint != fresh.fingerprint:
        diffs.append("values changed that the summary does not show (fingerprint)")
    diffs += _sealed(old, fresh, keyed=keyed, others=bool(diffs))
    return diffs


def _sealed(old: PlanRecord, fresh: PlanRecord, *, keyed: bool, others: bool) -> list[str]:
    if not keyed:
        if fresh.sensitive:
            return [
                "it has sensitive values, and without `INFRA_PLAN_KEY` the pipeline cannot "
                "check that they are the ones reviewed without publishing them: " + KEY_HINT
            ]
        return []
    if not old.seal:
        return ["it was planned without `INFRA_PLAN_KEY`, so its plan is not sealed: " + KEY_HINT]
    if old.seal == fresh.seal or others:
        return []
    if old.fingerprint == fresh.fingerprint:
        return ["a sensitive value changed since the review (the seal differs)"]
    return ["the recorded plan's seal does not verify: this pipeline did not write that record"]


def _with_record(m: Dashboard, name: str, old: PlanRecord, fresh: PlanRecord) -> Dashboard:
    """`m` with the fresh plan in `name`'s place, its text cut as the shown one was."""
    aligned = replace(
        fresh,
        text=old.text,
        head_sha=old.head_sha,
        base_sha=old.base_sha,
    )
    layers = tuple(
        replace(layer, record=aligned) if layer.name == name else layer for layer in m.layers
    )
    return replace(m, layers=layers)


def _visible(m: Dashboard) -> str:
    """The rendered body without the hidden state (fingerprints and seals are compared apart)."""
    return render(m).rsplit("<!-- infra-state:", 1)[0]


def _counts(record: PlanRecord) -> str:
    return record.counts.short() if record.has_changes else "no changes"


def _addresses(addresses: list[str]) -> str:
    listed = ", ".join(f"`{a}`" for a in addresses[:5])
    return listed + (f" and {len(addresses) - 5} more" if len(addresses) > 5 else "")


def _first_difference(old: str, new: str) -> str:
    a, b = old.split("\n"), new.split("\n")
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f" (from line {index + 1}: {code(y.strip()[:80])})"
    return f" (shown {len(a)} lines, now {len(b)})"
