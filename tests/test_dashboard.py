"""The dashboard model, its steps and its Markdown, checked with GitHub's own Markdown engine."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.dashboard.steps import (
    Dashboard,
    DashboardError,
    LayerState,
    PlanRecord,
    Revision,
    Row,
    Stage,
    State,
    Status,
)
from infra_pipeline.core.plan_text import from_diff, size, to_diff
from infra_pipeline.errors import InfraError
from infra_pipeline.models import (
    ChangeKind,
    LayerRun,
    Outcome,
    PlanCounts,
    PlanResult,
    ResourceChange,
)

HEAD, BASE, NEXT = "a1b2c3d" + "0" * 33, "b" * 40, "c0ffee1" + "1" * 33
NOW = datetime(2026, 3, 4, 12, 34, tzinfo=UTC)
RUN = 4242
LAYERS = ["bootstrap", "platform", "data-staging", "data-prod"]

NASTY = (
    "Terraform will perform the following actions:\n\n"
    '  # aws_s3_bucket.logs["a|b"] will be created\n'
    '  + resource "aws_s3_bucket" "logs" {\n'
    '      + bucket = "x | y `z` ```` and ````` runs"\n'
    "      + tags   = { note = \"</details> <script>alert('x')</script> <details>\" }\n"
    '      + name   = "ünïcødé — 日本語 — 🚀"\n'
    "    }\n"
    "  # aws_instance.web must be replaced\n"
    '-/+ resource "aws_instance" "web" {\n'
    '      ~ ami = "ami-1" -> "ami-2" # forces replacement\n'
    "    }\n"
    "  # aws_iam_role.old will be destroyed\n"
    '  - resource "aws_iam_role" "old" {}\n'
    "<!-- infra-state:v1 {} -->\n"
    "| not | a | table |\n"
    "```\n"
    "Plan: 1 to add, 1 to change, 1 to destroy."
)


def fresh(layers: list[str] = LAYERS) -> Dashboard:
    return d.new_dashboard(
        repo="acme/infra",
        pr=7,
        head_sha=HEAD,
        base_sha=BASE,
        layers=layers,
        server_url="https://github.com",
    )


def plan(
    layer: str, *changes: tuple[str, ChangeKind], text: str = "", drift: int = 0
) -> PlanResult:
    resources = tuple(ResourceChange(a, k, (str(k),)) for a, k in changes)
    counts = PlanCounts(
        add=sum(k is ChangeKind.CREATE for _, k in changes),
        change=sum(k is ChangeKind.UPDATE for _, k in changes),
        destroy=sum(k is ChangeKind.DELETE for _, k in changes),
        replace=sum(k is ChangeKind.REPLACE for _, k in changes),
    )
    drifted = tuple(
        ResourceChange(f"drift.{i}", ChangeKind.UPDATE, ("update",)) for i in range(drift)
    )
    return PlanResult(
        layer,
        counts,
        resources,
        (),
        drifted,
        (),
        f"fp-{layer}-{len(changes)}",
        text or "No changes.",
    )


def planned(m: Dashboard, *plans: PlanResult) -> Dashboard:
    m = d.finish_stage(d.start_stage(m, Stage.CI, RUN, NOW), Stage.CI, Status.OK, RUN, NOW)
    m = d.start_plan(m, [p.layer for p in plans], RUN, NOW)
    for p in plans:
        m = d.finish_plan(m, p, RUN, NOW, base_sha=BASE)
    return m


# -- GitHub's Markdown engine -------------------------------------------------------------------


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.stack: list[str] = []
        self.cell: list[str] | None = None
        self.tags: list[str] = []
        self.code: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if "code" in self.stack and "pre" in self.stack:
            self.code.append(data)


def html_of(body: str) -> _Html:
    # UNSAFE keeps raw HTML (GitHub sanitises instead of dropping it), so <details> stays.
    out = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE)
    parser = _Html()
    parser.feed(out)
    parser.raw = out  # type: ignore[attr-defined]
    return parser


def assert_well_formed(m: Dashboard, body: str) -> _Html:
    page = html_of(body)
    assert len(page.tables) == 1, "exactly one table"
    rows = page.tables[0]
    shown = [f"Plan: {x.name}" for x in m.layers if x.plan.status is not Status.UNTOUCHED]
    folded = sum(x.plan.status is Status.UNTOUCHED for x in m.layers)
    if folded:
        shown.append(f"Plan: {folded} other{'s' if folded > 1 else ''}")
    expected = ["CI Validate", *shown, "Apply", "AI Review"]
    expected += [s.label for s in (Stage.HEALTH, Stage.E2E) if m.row(s) is not None]
    assert [r[0] for r in rows] == ["Stage", *expected]
    assert all(len(r) == 4 for r in rows), rows
    planned_layers = [x for x in m.layers if x.record is not None]
    assert page.tags.count("details") == len(planned_layers)
    assert "script" not in page.tags
    assert page.raw.count("<details>") == len(planned_layers)  # type: ignore[attr-defined]
    return page


# -- rendering ------------------------------------------------------------------------------------


def test_schema_of_a_fresh_dashboard_matches_the_spec() -> None:
    body = d.render(fresh())
    lines = body.split("\n")
    assert lines[0] == "<!-- infra-dashboard:a1b2c3d -->"
    assert lines[1] == "## ⚙️ Commit `a1b2c3d` Pipeline"
    assert lines[3:6] == [
        "| Stage | Status | Output | Time |",
        "|:---|:---:|:---|:---|",
        "| CI Validate | ⬜ | - | - |",
    ]
    assert lines[6:12] == [
        "| Plan: bootstrap | ⬜ | - | - |",
        "| Plan: platform | ⬜ | - | - |",
        "| Plan: data-staging | ⬜ | - | - |",
        "| Plan: data-prod | ⬜ | - | - |",
        "| Apply | ⬜ | - | - |",
        "| AI Review | ⬜ | - | - |",
    ]
    step = lines.index("<!-- next-step -->")
    assert lines[step + 1 : step + 3] == ["⏳ Waiting for CI validation...", "<!-- /next-step -->"]
    assert_well_formed(fresh(), body)


def test_running_plan_links_the_run_and_shows_the_time() -> None:
    m = d.start_plan(planned(fresh()), ["platform"], RUN, NOW)
    body = d.render(m)
    url = f"https://github.com/acme/infra/actions/runs/{RUN}"
    assert f"| Plan: platform | ⏳ | [Running...]({url}) | 2026-03-04 12:34 UTC |" in body
    assert "⏳ Waiting for plan..." in body


def test_plan_with_changes_tells_what_to_do_next() -> None:
    m = planned(
        fresh(),
        plan("bootstrap"),
        plan(
            "platform",
            ("a.one", ChangeKind.CREATE),
            ("a.two", ChangeKind.CREATE),
            ("b.x", ChangeKind.UPDATE),
        ),
    )
    assert m.state is State.PLAN_DIFF
    body = d.render(m)
    assert d.next_step(m) == (
        "Plan shows changes in `platform` (2 to add, 1 to change): review them, "
        "then comment `/apply`"
    )
    page = assert_well_formed(m, body)
    rows = {row[0]: row[1:] for row in page.tables[0]}
    assert rows["Plan: platform"][:2] == ["✅", "2 to add, 1 to change · Log"]
    assert rows["Plan: bootstrap"][:2] == ["✅", "no changes · Log"]
    assert rows["Plan: data-prod"] == ["⬜", "-", "-"]
    assert '<a href="#plan-a1b2c3d-platform">' in page.raw  # type: ignore[attr-defined]


def test_hostile_plan_text_stays_inside_its_code_block() -> None:
    m = planned(
        fresh(),
        plan(
            "platform",
            ('aws_s3_bucket.logs["a|b"]', ChangeKind.CREATE),
            ("aws_instance.web", ChangeKind.REPLACE),
            ("aws_iam_role.`old`", ChangeKind.DELETE),
            text=NASTY,
        ),
    )
    m = d.set_lock(m, "platform", "locked by #12 | `x`\n<b>bold</b>")
    body = d.render(m)
    page = assert_well_formed(m, body)
    # The plan comes back whole from the rendered code block, diff markers aside.
    code = "".join(page.code)
    assert from_diff(code.rstrip("\n").split("\n")) == NASTY
    assert "<script>" not in page.raw  # type: ignore[attr-defined]
    lock_cell = page.tables[0][3][2]
    assert "locked by #12 | x <b>bold</b>" in lock_cell
    # Destroys and replaces are called out above the table.
    callout = body.index("⚠️ **This commit destroys or replaces resources:**")
    assert callout < body.index("| Stage |")
    assert "replaces `aws_instance.web`; destroys `` aws_iam_role.`old` ``" in body
    assert d.parse(body) == m


def test_diff_markers_follow_terraform_symbols() -> None:
    text = '  + resource "a" {\n      ~ x = 1\n  - y\n-/+ resource "b"\n <= data "c"\nplain'
    assert to_diff(text) == [
        '+    resource "a" {',
        "!        x = 1",
        "-    y",
        '-/+  resource "b"',
        '  <= data "c"',
        " plain",
    ]
    assert from_diff(to_diff(text)) == text


def test_a_diff_keeps_terraforms_alignment() -> None:
    """Every line moves one column right, the symbol's place left blank: a closing brace stays
    under its `resource`, an unchanged attribute lines up with the changed ones."""
    text = (
        '  # terraform_data.web must be replaced\n-/+ resource "terraform_data" "web" {\n'
        '      ~ id     = "b1d7" -> (known after apply)\n        input  = "v1"\n'
        "      + output = (known after apply)\n    }\n\nPlan: 1 to add, 0 to change."
    )
    for original, shown in zip(text.split("\n"), to_diff(text), strict=True):
        # The line's text, after any indentation and symbol, starts one column further right.
        words = original.lstrip(" -/+~")
        assert shown.endswith(words) and len(shown) == len(original) + 1
    assert from_diff(to_diff(text)) == text


def test_a_plan_block_of_state_v2_still_reads() -> None:
    text = '  + resource "a" "b" {\n      + id = 1\n    }'
    body = d.render(planned(fresh(), plan("platform", ("a.b", ChangeKind.CREATE), text=text)))
    v3 = ['+    resource "a" "b" {', "+        id = 1", "     }"]
    v2 = ['+   resource "a" "b" {', "+       id = 1", "     }"]
    assert "\n".join(v3) in body
    old = body.replace("\n".join(v3), "\n".join(v2)).replace("infra-state:v3 ", "infra-state:v2 ")
    assert d.parse(old).layer("platform").record.text == text  # type: ignore[union-attr]


def test_ten_thousand_resources_fit_in_one_comment() -> None:
    changes = [(f"null_resource.r[{i}]", ChangeKind.CREATE) for i in range(9_990)]
    changes += [(f"aws_instance.gone[{i}]", ChangeKind.DELETE) for i in range(10)]
    text = "\n".join(
        f'  # {a} will be created\n  + resource "null_resource" "r" {{\n'
        f'      + id = (known after apply)\n      + triggers = {{ n = "{i}" }}\n    }}'
        for i, (a, _) in enumerate(changes)
    )
    big = plan("platform", *changes, text=text)
    m = planned(fresh(), big, plan("data-prod", *changes[:3000], text=text[: len(text) // 3]))
    body = d.render(m)
    assert size(body) < d.LIMIT and len(body) < 65_536
    assert "lines omitted: full output in the job summary" in body
    assert "and 0 more" not in body and "destroys `aws_instance.gone[0]`" in body
    assert_well_formed(m, body)
    again = d.parse(body)
    assert d.render(again) == body  # shortened once, stable afterwards
    assert again.layer("platform").record.counts == big.counts  # type: ignore[union-attr]


def test_job_summary_has_the_dashboard_and_the_full_plan() -> None:
    m = planned(fresh(), plan("platform", ("a.b", ChangeKind.CREATE), text=NASTY))
    text = d.step_summary(m, {"platform": NASTY + "\n" + "x\n" * 5000})
    assert text.startswith("<!-- infra-dashboard:a1b2c3d -->")
    assert "### The plan of platform" in text and text.count("\n x") >= 5000
    assert "details" not in html_of(text).tags  # each plan once: in full, not also folded
    assert_well_formed(m, d.render(m))


def test_job_summary_of_huge_plans_stays_under_githubs_limit() -> None:
    # GitHub drops a step summary above 1 MiB: three 600 kB plans must be trimmed to fit.
    huge = "\n".join(f"  + resource_{i} = {'v' * 40}" for i in range(12_000))
    plans = {name: huge for name in ("network", "cluster", "platform")}
    text = d.step_summary(None, plans)
    assert len(huge) * 3 > 1_500_000
    assert len(text.encode()) < 1_000_000
    assert all(f"### The plan of {name}" in text for name in plans)
    assert "full output in the job log" in text


# -- steps and the state machine ------------------------------------------------------------------


def test_full_story_plan_apply_review() -> None:
    m = planned(
        fresh(),
        plan("bootstrap"),
        plan("platform", ("a.b", ChangeKind.CREATE)),
        plan("data-prod", ("c.d", ChangeKind.UPDATE)),
    )
    m = d.skip_plan(m, "data-staging", "not touched", NOW)
    assert m.state is State.PLAN_DIFF
    assert [x.name for x in m.pending_changes] == ["platform", "data-prod"]
    plan_check, apply_check = d.commit_statuses(m)
    assert (plan_check.state, plan_check.description) == (
        "success",
        "3 layers planned, 2 with changes",
    )
    assert (apply_check.state, apply_check.description) == (
        "pending",
        "2 layers with changes to /apply",
    )

    m = d.start_apply(m, ["platform"], RUN + 1, NOW)
    assert m.state is State.APPLY_RUNNING
    assert d.commit_statuses(m)[1].state == "pending"
    m = d.finish_apply(m, {"platform": Outcome.OK}, RUN + 1, NOW)
    assert m.state is State.APPLY_WAITING  # data-prod still waits for its `/apply`
    assert d.commit_statuses(m)[1].state == "pending"
    assert "still to apply: `data-prod` (1 to change)" in d.next_step(m)

    m = d.start_apply(m, ["data-prod"], RUN + 2, NOW)
    m = d.finish_apply(m, {"data-prod": Outcome.FAILED}, RUN + 2, NOW, "provider timeout")
    assert m.state is State.APPLY_FAILED
    assert d.commit_statuses(m)[1].state == "failure"
    assert "Apply failed in `data-prod`" in d.next_step(m)

    m = d.start_apply(m, ["data-prod"], RUN + 3, NOW)  # retry
    m = d.finish_apply(m, {"data-prod": Outcome.OK}, RUN + 3, NOW)
    assert m.state is State.APPLY_DONE  # every change applied: the AI review is due
    assert d.commit_statuses(m)[1].description == "2 layers applied"
    m = d.start_stage(m, Stage.REVIEW, RUN + 3, NOW)
    assert m.state is State.REVIEW_RUNNING
    m = d.finish_stage(m, Stage.REVIEW, Status.OK, RUN + 3, NOW, "no risks found")
    assert m.state is State.READY_MERGE
    assert d.next_step(m) == "✅ Applied: ready to merge"
    body = d.render(m)
    assert "| Apply | ✅ | platform ✅, data-prod ✅ · [Log](" in body
    assert_well_formed(m, body)
    assert d.parse(body) == m


def test_no_changes_means_infra_apply_success_and_ready_to_merge() -> None:
    m = planned(fresh(), plan("bootstrap"), plan("platform"))
    assert m.state is State.READY_MERGE
    checks = {c.context: (c.state, c.description) for c in d.commit_statuses(m)}
    assert checks == {
        "infra/plan": ("success", "2 layers planned, 0 with changes"),
        "infra/apply": ("success", "no changes to apply"),
    }
    assert d.next_step(m) == "✅ No changes to apply: ready to merge"


def test_a_pr_touching_no_layer_does_not_deadlock_the_merge() -> None:
    m = planned(fresh())
    assert m.state is State.READY_MERGE
    assert [c.state for c in d.commit_statuses(m)] == ["success", "success"]


def test_failed_plan_and_replan() -> None:
    m = planned(fresh(), plan("bootstrap"))
    m = d.start_plan(m, ["platform", "data-prod"], RUN, NOW)
    runs = [
        LayerRun("platform", Outcome.FAILED, error="Error: Unsupported argument\n on main.tf"),
        LayerRun("data-prod", Outcome.SKIPPED, error="an earlier layer failed"),
    ]
    m = d.record_plans(m, runs, RUN, NOW, base_sha=BASE)
    assert m.state is State.PLAN_FAILED
    assert d.commit_statuses(m)[0].description == "plan failed: platform"
    assert "Plan failed in `platform`" in d.next_step(m)
    assert "| Plan: platform | ❌ | Error: Unsupported argument on main.tf · [Log](" in d.render(m)
    m = d.start_plan(m, ["platform"], RUN + 1, NOW)
    m = d.finish_plan(m, plan("platform"), RUN + 1, NOW, base_sha=BASE)
    assert m.state is State.READY_MERGE


def test_matrix_jobs_join_one_plan_but_another_run_must_wait() -> None:
    m = d.finish_stage(d.start_stage(fresh(), Stage.CI, RUN, NOW), Stage.CI, Status.OK, RUN, NOW)
    m = d.start_plan(m, ["bootstrap"], RUN, NOW)
    m = d.start_plan(m, ["platform"], RUN, NOW)  # same workflow run, another matrix job
    with pytest.raises(InfraError, match="state Plan_Running"):
        d.start_plan(m, ["platform"], RUN + 1, NOW)
    m = d.finish_plan(m, plan("bootstrap"), RUN, NOW, base_sha=BASE)
    assert m.state is State.PLAN_RUNNING
    m = d.finish_plan(m, plan("platform", ("x.y", ChangeKind.CREATE)), RUN, NOW, base_sha=BASE)
    assert m.state is State.PLAN_DIFF


def test_illegal_steps_are_refused_with_the_state_machine_error() -> None:
    with pytest.raises(InfraError, match="allowed events: ci_started"):
        d.start_plan(fresh(), ["platform"], RUN, NOW)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        d.start_plan(planned(fresh()), ["nope"], RUN, NOW)


def test_review_skipped_after_apply_still_reaches_ready_to_merge() -> None:
    m = planned(fresh(), plan("platform", ("a.b", ChangeKind.CREATE)))
    m = d.finish_apply(d.start_apply(m, ["platform"], RUN, NOW), {"platform": Outcome.OK}, RUN, NOW)
    m = d.finish_stage(m, Stage.REVIEW, Status.SKIPPED, None, NOW, "no ANTHROPIC_API_KEY")
    assert m.state is State.READY_MERGE
    assert "| AI Review | ⏭️ | no ANTHROPIC\\_API\\_KEY | 2026-03-04 12:34 UTC |" in d.render(m)


def test_health_and_e2e_rows_appear_once_they_ran() -> None:
    m = planned(fresh())
    assert "| Health |" not in d.render(m)
    m = d.finish_stage(d.start_stage(m, Stage.HEALTH, RUN, NOW), Stage.HEALTH, Status.OK, RUN, NOW)
    m = d.finish_stage(m, Stage.E2E, Status.FAILED, RUN, NOW, "2 failed: test_a, test_b")
    body = d.render(m)
    assert (
        "| Health | ✅ |" in body and "| E2E | ❌ | 2 failed: test\\_a, test\\_b · [Log](" in body
    )
    assert_well_formed(m, body)


def test_dead_runs_become_warnings_and_unblock_the_state() -> None:
    m = d.finish_stage(d.start_stage(fresh(), Stage.CI, RUN, NOW), Stage.CI, Status.OK, RUN, NOW)
    m = d.start_plan(m, ["bootstrap", "platform"], RUN, NOW)
    m = d.finish_plan(m, plan("bootstrap"), RUN, NOW, base_sha=BASE)
    alive = d.mark_stale(m, lambda run: True, NOW + timedelta(minutes=5), timedelta(hours=3))
    assert alive == m
    mine = d.mark_stale(m, lambda run: False, NOW, timedelta(hours=3), current_run_id=RUN)
    assert mine == m  # the current run is never stale
    dead = d.mark_stale(m, lambda run: run != RUN, NOW, timedelta(hours=3))
    assert dead.layer("platform").plan.status is Status.STALE
    assert dead.state is State.PLAN_FAILED
    url = f"https://github.com/acme/infra/actions/runs/{RUN}"
    assert f"| Plan: platform | ❔ | run stopped without reporting · [Log]({url}) |" in d.render(
        dead
    )
    old = d.mark_stale(m, lambda run: True, NOW + timedelta(hours=4), timedelta(hours=3))
    assert old.layer("platform").plan.status is Status.STALE
    assert d.running_runs(m) == {RUN} and d.running_runs(dead) == frozenset()


def test_dead_apply_becomes_apply_failed() -> None:
    m = planned(fresh(), plan("platform", ("a.b", ChangeKind.CREATE)))
    m = d.start_apply(m, ["platform"], RUN, NOW)
    dead = d.mark_stale(m, lambda run: False, NOW, timedelta(hours=3))
    assert dead.state is State.APPLY_FAILED and dead.apply.status is Status.STALE


def test_plan_warning_for_destroys_and_drift() -> None:
    m = planned(fresh(), plan("platform", ("a.b", ChangeKind.DELETE)), plan("bootstrap", drift=2))
    assert m.layer("platform").plan.status is Status.WARNING
    assert m.layer("bootstrap").plan.status is Status.DRIFT
    assert "⚠️ `platform` (1 to destroy)" in d.next_step(m)
    page = html_of(d.render(m))
    rows = {row[0]: row[1:] for row in page.tables[0]}
    assert rows["Plan: bootstrap"][:2] == ["🔶", "no changes, drift: 2 · Log"]
    raw = page.raw  # type: ignore[attr-defined]
    assert "🔶 <strong>drift</strong>: 2 resources changed outside Terraform" in raw


def test_superseded_dashboard_says_so_and_sets_no_status() -> None:
    m = d.supersede(planned(fresh(), plan("platform")), NEXT)
    assert d.next_step(m) == "↪️ Superseded by `c0ffee1`: see that commit's dashboard"
    assert d.commit_statuses(m) == ()
    assert d.parse(d.render(m)) == m


# -- parse: round trip and hostile input ---------------------------------------------------------

shas = st.text("0123456789abcdef", min_size=40, max_size=40)
names = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,10}", fullmatch=True)
times = st.datetimes(datetime(2020, 1, 1), datetime(2031, 1, 1), timezones=st.just(UTC))
anything = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
tf_lines = st.sampled_from(
    ['  + resource "a" "b" {', "      ~ x = 1 -> 2", "  - y", "-/+ r", "    }", "", "`", "```"]
)
plan_texts = st.lists(st.one_of(tf_lines, anything), max_size=25).map("\n".join)
ids = st.none() | st.integers(1, 2**53)
rows = st.builds(Row, st.sampled_from(Status), ids, st.none() | times, st.none() | times, anything)
counts = st.builds(PlanCounts, *[st.integers(0, 10_000)] * 6)
records = st.builds(
    PlanRecord,
    head_sha=shas,
    base_sha=shas,
    fingerprint=anything,
    counts=counts,
    has_changes=st.booleans(),
    destroys=st.lists(anything, max_size=3).map(tuple),
    replaces=st.lists(anything, max_size=3).map(tuple),
    more_destructive=st.integers(0, 100),
    drift=st.integers(0, 100),
    text=plan_texts,
)


@st.composite
def dashboards(draw: st.DrawFn) -> Dashboard:
    layer_names = draw(st.lists(names, unique=True, max_size=5))
    layers = tuple(
        LayerState(
            name,
            draw(rows),
            draw(st.none() | records),
            draw(st.none() | st.sampled_from(Outcome)),
            draw(anything),
        )
        for name in layer_names
    )
    return Dashboard(
        repo=draw(st.from_regex(r"[A-Za-z0-9_.-]{1,12}/[A-Za-z0-9_.-]{1,12}", fullmatch=True)),
        pr=draw(st.integers(1, 10**6)),
        head_sha=draw(shas),
        base_sha=draw(shas),
        server_url=draw(st.sampled_from(["https://github.com", "https://ghe.example.com/"])),
        layers=layers,
        ci=draw(rows),
        apply=draw(rows),
        review=draw(rows),
        health=draw(st.none() | rows),
        e2e=draw(st.none() | rows),
        superseded_by=draw(st.none() | shas),
        revisions=tuple(
            draw(st.lists(st.builds(Revision, anything, st.integers(0, 99)), max_size=3))
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dashboards())
def test_parse_inverts_render(m: Dashboard) -> None:
    body = d.render(m)
    assert size(body) < d.LIMIT
    assert d.parse(body) == m


@settings(max_examples=40, deadline=None)
@given(dashboards(), st.integers(2, 400))
def test_oversized_plans_are_cut_to_fit_and_stay_cut(m: Dashboard, times: int) -> None:
    big = tuple(
        replace(x, record=replace(x.record, text=(x.record.text + "\n") * times + "x" * 70_000))
        if x.record is not None
        else x
        for x in m.layers
    )
    m = replace(m, layers=big)
    body = d.render(m)
    assert size(body) < d.LIMIT
    again = d.parse(body)
    assert d.render(again) == body
    # Only plan texts were cut.
    assert again == replace(m, layers=again.layers)
    for cut, whole in zip(again.layers, m.layers, strict=True):
        text = whole.record.text if whole.record is not None else ""
        assert replace(cut, record=cut.record and replace(cut.record, text=text)) == whole
    assert_well_formed(m, body)


@settings(max_examples=40, deadline=None)
@given(dashboards())
def test_rendered_table_is_well_formed(m: Dashboard) -> None:
    assert_well_formed(m, d.render(m))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parse_of_any_text_raises_only_dashboard_error(text: str) -> None:
    for body in (text, f"<!-- infra-dashboard:a1b2c3d -->\n{text}"):
        with pytest.raises(DashboardError):
            d.parse(body)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_damaged_dashboard_parses_or_raises_dashboard_error(data: st.DataObject) -> None:
    body = d.render(planned(fresh(), plan("platform", ("a.b", ChangeKind.CREATE), text=NASTY)))
    lines = body.split("\n")
    at = data.draw(st.integers(0, len(lines) - 1))
    damaged = data.draw(st.sampled_from(["drop", "dup", "edit"]))
    if damaged == "drop":
        del lines[at]
    elif damaged == "dup":
        lines.insert(at, lines[at])
    else:
        lines[at] = data.draw(st.text(max_size=20))
    with contextlib.suppress(DashboardError):
        d.parse("\n".join(lines))


def test_parse_rejects_a_state_from_a_newer_version() -> None:
    body = d.render(fresh()).replace("infra-state:v3 ", "infra-state:v4 ")
    with pytest.raises(DashboardError, match="v4 is not v3"):
        d.parse(body)


def test_parse_rejects_a_marker_for_another_commit() -> None:
    body = d.render(fresh()).replace("infra-dashboard:a1b2c3d", "infra-dashboard:0000000", 1)
    with pytest.raises(DashboardError, match="marker says 0000000"):
        d.parse(body)


def test_state_comment_cannot_be_closed_by_text() -> None:
    m = d.set_lock(fresh(), "platform", "--> <!-- & </details>")
    body = d.render(m)
    state_line = body.rstrip("\n").split("\n")[-1]
    assert state_line.count("-->") == 1 and state_line.endswith(" -->")
    assert d.parse(body) == m


def test_model_rejects_what_parse_must_not_accept() -> None:
    with pytest.raises(ValueError, match="commit SHA"):
        replace(fresh(), head_sha="nothex")
    with pytest.raises(ValueError, match="layer names"):
        fresh(["ok", "Bad Name"])
    with pytest.raises(ValueError, match="server URL"):
        replace(fresh(), server_url="javascript:alert(1)")
    assert re.fullmatch(d.marker(HEAD), "<!-- infra-dashboard:a1b2c3d -->")


V1_BODY = (
    "<!-- infra-dashboard:a1b2c3d -->\n"
    "## ⚙️ Commit `a1b2c3d` Pipeline\n\n"
    "| Stage | Status | Output | Time |\n|:---|:---:|:---|:---|\n"
    "| CI Validate | ✅ | - | 12:34 |\n\n"
    "<!-- next-step -->\nwhatever\n<!-- /next-step -->\n\n"
    '<a name="plan-platform"></a>\n'
    "<details><summary>Plan: platform (+1 ~0 -0)</summary>\n\n"
    "```diff\n Terraform will perform the following actions:\n"
    '+  + resource "a" "b" {}\n```\n\n</details>\n\n'
    '<!-- infra-state:v1 {"repo":"acme/infra","pr":7,'
    f'"head_sha":"{HEAD}","base_sha":"{BASE}","server_url":"https://github.com",'
    '"layers":[{"name":"platform","plan":{"status":"ok","run_id":4242,'
    '"finished_at":"2026-03-04T12:34:00Z","detail":"+1 ~0 -0"},'
    f'"record":{{"head_sha":"{HEAD}","base_sha":"{BASE}","fingerprint":"fp",'
    '"counts":{"add":1},"has_changes":true}},'
    '{"name":"bootstrap","plan":{"finished_at":"2026-03-04T12:34:00Z",'
    '"detail":"not touched by this PR"}},'
    '{"name":"data","plan":{"status":"warning","run_id":1,'
    '"detail":"run stopped without reporting"}}],'
    '"ci":{"status":"ok","run_id":4242}} -->\n'
)


def test_a_dashboard_written_by_the_previous_version_still_parses() -> None:
    m = d.parse(V1_BODY)
    record = m.layer("platform").record
    assert record is not None
    assert record.text == 'Terraform will perform the following actions:\n  + resource "a" "b" {}'
    # v1 left "skipped" out (its default, which also meant "not run yet") and drew a dead run
    # as "warning": v2 tells them apart.
    assert m.layer("bootstrap").plan.status is Status.SKIPPED
    assert m.layer("data").plan.status is Status.STALE
    assert m.apply.status is Status.PENDING
    again = d.render(m)
    assert "infra-state:v3 " in again and d.parse(again) == m
