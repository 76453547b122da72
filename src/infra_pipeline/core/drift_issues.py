"""One open issue per drifted layer: what to create, update, reopen or close after a scan.

Pure: the layer reports and the issues that already carry the drift labels go in, a list of
actions comes out. An issue belongs to a layer by the hidden marker in its body, or else by
its exact title (someone may have rewritten the body). The invariant kept: a drifted layer has
exactly one open issue, updated in place; a layer back in sync has none; an old closed issue
is reopened rather than a new one made; a layer whose scan failed is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from msgspec import Struct

from .github_models import Issue
from .reconcile import LayerReport
from .summary import (
    ReconcileRun,
    issue_marker,
    issue_title,
    render_close_comment,
    render_duplicate_comment,
    render_issue_body,
    render_reopen_comment,
)


class IssueOp(StrEnum):
    CREATE = "create"
    UPDATE = "update"  # rewrite the body of the open issue
    REOPEN = "reopen"  # reopen a closed issue with a new body, and say so in a comment
    CLOSE = "close"  # comment, then close


class IssueAction(Struct, frozen=True):
    op: IssueOp
    layer: str
    number: int | None = None  # None only for CREATE
    title: str = ""
    body: str | None = None
    comment: str | None = None


def issue_layer(issue: Issue, layers: Sequence[str]) -> str | None:
    """The layer an existing drift issue is about, or None when it is about none of them."""
    for layer in layers:
        if issue_marker(layer) in issue.body:
            return layer
    for layer in layers:
        if issue.title == issue_title(layer):
            return layer
    return None


def decide_issue_actions(
    reports: Sequence[LayerReport], existing: Sequence[Issue], origin: ReconcileRun
) -> list[IssueAction]:
    layers = [r.layer for r in reports]
    mine: dict[str, list[Issue]] = {layer: [] for layer in layers}
    for issue in existing:
        layer = issue_layer(issue, layers)
        if layer is not None:
            mine[layer].append(issue)

    actions: list[IssueAction] = []
    for report in reports:
        issues = mine[report.layer]
        open_ = sorted((i for i in issues if i.state == "open"), key=lambda i: i.number)
        if report.still_drifted:
            actions += _drifted(report, open_, issues, origin)
        elif report.in_sync:
            actions += [
                IssueAction(
                    IssueOp.CLOSE,
                    report.layer,
                    issue.number,
                    comment=render_close_comment(report, origin),
                )
                for issue in open_
            ]
    return actions


def _drifted(
    report: LayerReport, open_: list[Issue], issues: list[Issue], origin: ReconcileRun
) -> list[IssueAction]:
    body = render_issue_body(report, origin)
    title = issue_title(report.layer)
    if open_:
        keep, *duplicates = open_
        actions = [
            IssueAction(
                IssueOp.CLOSE,
                report.layer,
                dup.number,
                comment=render_duplicate_comment(keep.number),
            )
            for dup in duplicates
        ]
        if keep.body != body or keep.title != title:
            actions.insert(0, IssueAction(IssueOp.UPDATE, report.layer, keep.number, title, body))
        return actions
    if issues:
        latest = max(issues, key=lambda i: i.number)
        return [
            IssueAction(
                IssueOp.REOPEN,
                report.layer,
                latest.number,
                title,
                body,
                comment=render_reopen_comment(report, origin),
            )
        ]
    return [IssueAction(IssueOp.CREATE, report.layer, None, title, body)]
