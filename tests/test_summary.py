"""The pure decisions after a scan (what to apply, which issues to touch) and their Markdown,
without Terraform or GitHub: layer reports and existing issues built by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import cmarkgfm
from cmarkgfm.cmark import Options
from msgspec.structs import replace

from infra_pipeline.config import Layer, OnFailure
from infra_pipeline.core.drift_issues import IssueAction, IssueOp, decide_issue_actions
from infra_pipeline.core.github_models import Issue
from infra_pipeline.core.layer_graph import LayerGraph
from infra_pipeline.core.reconcile import (
    Held,
    LayerReport,
    Verdict,
    choose_applies,
    layer_reports,
)
from infra_pipeline.core.summary import (
    E2EResult,
    ReconcileRun,
    Trigger,
    issue_marker,
    render_issue_body,
    render_merge_summary,
    status_description,
)
from infra_pipeline.models import (
    ChangeKind,
    LayerRun,
    Outcome,
    PlanCounts,
    PlanResult,
    ResourceChange,
)

ORIGIN = ReconcileRun(
    "4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
    "https://github.com/acme/infra/actions/runs/7",
    datetime(2025, 3, 14, 6, 17, tzinfo=UTC),
    Trigger.SCHEDULED,
)
LAYERS = [
    Layer(name=name, path=name, order=i, auto_apply=name != "data-prod")
    for i, name in enumerate(("bootstrap", "platform", "data-staging", "data-prod"), start=1)
]
CHAIN = LayerGraph.build({layer.name: layer.order for layer in LAYERS}, {})


def plan(layer: str, *addresses: str) -> PlanResult:
    changes = tuple(ResourceChange(a, ChangeKind.UPDATE, ("update",)) for a in addresses)
    return PlanResult(
        layer, PlanCounts(change=len(changes)), changes, (), (), (), f"fp-{layer}", "plan text"
    )


def scanned(layer: str, *addresses: str, failed: bool = False) -> LayerRun:
    if failed:
        return LayerRun(layer, Outcome.FAILED, 1.0, error="Error: backend unreachable\ndetail")
    outcome = Outcome.CHANGES if addresses else Outcome.OK
    return LayerRun(layer, outcome, 1.0, plan=plan(layer, *addresses))


def report(layer: str, verdict: Verdict, *addresses: str) -> LayerReport:
    return LayerReport(
        layer, verdict, None if verdict is Verdict.FAILED else plan(layer, *addresses)
    )


def issue(number: int, layer: str, state: str = "open", body: str = "") -> Issue:
    return Issue(number, f"Drift detected: `{layer}`", state, body, ("infra-drift",))


# -- what to apply -------------------------------------------------------------------------------


def test_only_drifted_layers_that_allow_it_are_applied_in_order() -> None:
    scan = [
        scanned("bootstrap", "a.x"),
        scanned("platform"),
        scanned("data-staging", "b.y"),
        scanned("data-prod", "c.z"),
    ]
    choice = choose_applies(LAYERS, scan, apply=True, graph=CHAIN)
    assert [layer.name for layer in choice.candidates] == ["bootstrap", "data-staging"]
    assert choice.held == {"data-prod": Held(Verdict.DRIFTED, "reported only: auto_apply is false")}


def test_a_report_only_run_applies_nothing() -> None:
    choice = choose_applies(LAYERS, [scanned("bootstrap", "a.x")], apply=False, graph=CHAIN)
    assert choice.candidates == ()
    assert choice.held["bootstrap"].verdict is Verdict.DRIFTED


def test_layers_after_a_failed_scan_are_not_applied() -> None:
    scan = [
        scanned("bootstrap", "a.x"),
        scanned("platform", failed=True),
        scanned("data-staging", "b.y"),
    ]
    choice = choose_applies(LAYERS, scan, apply=True, graph=CHAIN)
    assert [layer.name for layer in choice.candidates] == ["bootstrap"]
    assert choice.held["data-staging"] == Held(
        Verdict.SKIPPED, "not applied: the scan of `platform` failed first"
    )


def test_a_failed_scan_holds_only_its_dependents_with_skip_dependents() -> None:
    # data-staging and data-prod depend on platform; bootstrap does not.
    graph = LayerGraph.build(
        {layer.name: layer.order for layer in LAYERS},
        {"data-staging": ["platform"], "data-prod": ["platform"]},
    )
    scan = [
        scanned("bootstrap", failed=True),
        scanned("platform", "p.q"),
        scanned("data-staging", "b.y"),
    ]
    stop = choose_applies(LAYERS, scan, apply=True, graph=graph)
    assert [layer.name for layer in stop.candidates] == []
    assert stop.held["data-staging"].reason == "not applied: the scan of `bootstrap` failed first"
    skip = choose_applies(
        LAYERS, scan, apply=True, graph=graph, on_failure=OnFailure.SKIP_DEPENDENTS
    )
    assert [layer.name for layer in skip.candidates] == ["platform", "data-staging"]


def test_reports_fold_scan_holds_and_applies() -> None:
    scan = [
        scanned("bootstrap", "a.x"),
        scanned("platform", "p.q"),
        scanned("data-staging"),
        scanned("data-prod", "c.z"),
    ]
    applied = [
        LayerRun("bootstrap", Outcome.OK, 2.0),
        LayerRun("platform", Outcome.FAILED, 3.0, error="Error: exit 7\nmore"),
    ]
    held = {"data-prod": Held(Verdict.SKIPPED, "`data-prod` is locked by #13")}
    reports = layer_reports(scan, held, applied)
    assert [(r.layer, r.verdict, r.detail) for r in reports] == [
        ("bootstrap", Verdict.APPLIED, ""),
        ("platform", Verdict.FAILED, "Error: exit 7"),
        ("data-staging", Verdict.IN_SYNC, ""),
        ("data-prod", Verdict.SKIPPED, "`data-prod` is locked by #13"),
    ]
    assert reports[1].error == "Error: exit 7\nmore" and reports[1].still_drifted
    assert reports[0].in_sync and not reports[3].in_sync and reports[3].still_drifted


# -- which issues to touch ---------------------------------------------------------------------


def ops(actions: list[IssueAction]) -> list[tuple[IssueOp, str, int | None]]:
    return [(a.op, a.layer, a.number) for a in actions]


def test_a_new_drift_opens_an_issue_and_the_same_drift_updates_it() -> None:
    drifted = [report("bootstrap", Verdict.DRIFTED, "a.x")]
    [create] = decide_issue_actions(drifted, [], ORIGIN)
    assert (create.op, create.title) == (IssueOp.CREATE, "Drift detected: `bootstrap`")
    assert create.body is not None and issue_marker("bootstrap") in create.body

    [update] = decide_issue_actions(drifted, [issue(5, "bootstrap", body="older scan")], ORIGIN)
    assert (update.op, update.number, update.body) == (IssueOp.UPDATE, 5, create.body)
    # Nothing new since the last scan: nothing to send.
    assert decide_issue_actions(drifted, [issue(5, "bootstrap", body=create.body)], ORIGIN) == []


def test_back_in_sync_closes_and_drift_again_reopens_the_latest_closed_issue() -> None:
    existing = [issue(3, "bootstrap", "closed"), issue(9, "bootstrap", "closed")]
    [reopen] = decide_issue_actions([report("bootstrap", Verdict.SKIPPED, "a.x")], existing, ORIGIN)
    assert (reopen.op, reopen.number) == (IssueOp.REOPEN, 9)
    assert reopen.comment is not None and "Drift is back" in reopen.comment

    applied = [report("bootstrap", Verdict.APPLIED, "a.x")]
    [close] = decide_issue_actions(applied, [issue(9, "bootstrap")], ORIGIN)
    assert (close.op, close.number) == (IssueOp.CLOSE, 9)
    assert close.comment is not None and "applied the code" in close.comment


def test_duplicates_are_closed_and_unknown_layers_and_failed_scans_left_alone() -> None:
    existing = [
        issue(4, "bootstrap"),
        issue(8, "bootstrap"),
        issue(6, "platform"),
        issue(7, "retired-layer"),
        Issue(10, "renamed by a human", "open", issue_marker("data-staging"), ("infra-drift",)),
    ]
    reports = [
        report("bootstrap", Verdict.DRIFTED, "a.x"),
        report("platform", Verdict.FAILED),
        report("data-staging", Verdict.IN_SYNC),
    ]
    assert ops(decide_issue_actions(reports, existing, ORIGIN)) == [
        (IssueOp.UPDATE, "bootstrap", 4),
        (IssueOp.CLOSE, "bootstrap", 8),
        (IssueOp.CLOSE, "data-staging", 10),
    ]


# -- Markdown ---------------------------------------------------------------------------------


def html(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def test_merge_summary_is_one_gfm_table_row_per_layer() -> None:
    reports = [
        report("bootstrap", Verdict.APPLIED, 'terraform_data.node["a|b"]'),
        LayerReport(
            "platform", Verdict.FAILED, plan("platform", "p.q"), "boom", error="boom\n```x"
        ),
        report("data-prod", Verdict.SKIPPED, "c.z"),
    ]
    e2e = E2EResult("smoke", None, "not run: `platform` failed")
    markdown = render_merge_summary(reports, ORIGIN, e2e=e2e, branch="main")
    rendered = html(markdown)
    assert rendered.count("<tr>") == 4  # header + 3 layers: the `|` in an address is escaped
    assert "<summary>platform: error</summary>" in rendered
    assert "❌ Failed (1 applied, 1 skipped, 1 failed)" in markdown
    assert "[Run log](https://github.com/acme/infra/actions/runs/7)" in markdown


def test_status_description_fits_a_commit_status() -> None:
    reports = [report(layer.name, Verdict.APPLIED, "x.y") for layer in LAYERS]
    assert status_description(reports, E2EResult("smoke", True, "passed")) == (
        "Live infrastructure matches the code (4 applied)"
    )
    drifted = [report("data-prod", Verdict.DRIFTED, "x.y")]
    assert status_description(drifted, None).startswith("Live infrastructure still differs")


def test_issue_body_lists_what_differs_and_keeps_a_huge_plan_under_githubs_limit() -> None:
    big = plan("bootstrap", *(f"terraform_data.n[{i}]" for i in range(80)))
    big = replace(big, text="x" * 100_000)
    body = render_issue_body(LayerReport("bootstrap", Verdict.DRIFTED, big), ORIGIN)
    assert len(body) < 65_536
    assert "… and 30 more" in body and "full output in the run log" in body
    assert "The scheduled drift scan ([run](https://github.com/acme/infra/actions/runs/7)" in body
