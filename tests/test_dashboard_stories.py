"""What a reviewer sees in the main stories, read from the page GitHub would render (cmarkgfm)
and from the dashboard model, with real Terraform. With Chromium installed the pages are also
photographed; `make screenshots` keeps the pictures for docs/dashboard.md."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import stories
from dashboard_html import Page, page_of
from infra_pipeline.core.comment_parser import help_text
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.dashboard.plan_view import layer_view, view_digest
from infra_pipeline.models import Outcome
from screenshot import chromium, screenshot

SHOTS = os.environ.get("INFRA_SCREENSHOTS_DIR")  # `make screenshots` sets docs/img


def look(name: str, body: str, tmp_path: Path, *, unfold: bool = False) -> Page:
    """The page as rendered; photographed when Chromium is there (`unfold`: with the
    `<details>` opened, as a reviewer who clicked)."""
    page = page_of(body)
    if chromium() is not None:
        target = Path(SHOTS) if SHOTS else tmp_path
        png = screenshot(body, name, target / f"dashboard-{name}.png", unfold=unfold)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    return page


def no_runner_detail(page: Page, tmp_path: Path) -> None:
    everything = page.text + " ".join(code for _, code in page.code_blocks)
    assert str(tmp_path) not in everything and "/tmp/" not in everything
    assert "-input=false" not in everything and "-out=" not in everything
    assert "\\`" not in page.text  # no escaped backtick shows literally


def test_a_failed_precondition_shows_terraforms_message(tmp_path: Path) -> None:
    m = stories.failed_plan(tmp_path / "repo")
    assert m.state is d.State.PLAN_FAILED
    (diag,) = m.layer("platform").diagnostics
    assert (diag.filename, diag.line) == ("platform/main.tf", 11)
    page = look("failed-plan", d.render(m), tmp_path)

    rows = page.rows()
    assert rows["Plan: platform"][:2] == ["❌", "Resource precondition failed · Log"]
    assert rows["Plan: network"][:2] == ["✅", "1 to add · Log"]
    assert "Plan: platform failed" in " ".join(page.headings)
    at = page.blocks.index("Error: Resource precondition failed · platform/main.tf:11")
    assert page.blocks[at + 1] == "platform must only run on the prod cluster"
    assert ("Full log", stories.RUN_URL) in page.links
    assert "comment /plan to retry" in page.text
    no_runner_detail(page, tmp_path)
    assert d.parse(d.render(m)) == m


def test_a_replace_is_named_a_replace_before_the_table(tmp_path: Path) -> None:
    m = stories.replace_plan(tmp_path / "repo")
    record = m.layer("platform").record
    assert record is not None and record.replaces == ("terraform_data.web",)
    page = look("replace", d.render(m), tmp_path, unfold=True)

    callout = page.index("This commit destroys or replaces resources:")
    assert callout < page.index("Stage Status Output Time")
    assert "platform replaces terraform_data.web" in page.blocks
    assert page.rows()["Plan: platform"][:2] == [
        "⚠️",
        "1 to add, 1 to change, 1 to replace · Log",
    ]
    assert "Plan: platform: 1 to add, 1 to change, 1 to replace" in page.headings
    assert page.blocks[page.blocks.index("⚠️ replace terraform_data.web") + 1 :][:2] == [
        "add terraform_data.cache",
        "change terraform_data.dns",
    ]
    [(lang, diff)] = page.code_blocks
    assert lang == "diff"
    lines = diff.splitlines()
    assert '-/+  resource "terraform_data" "web" {' in lines  # aligned one column right
    # One marker a line: Terraform's symbol moved to the front, never doubled.
    assert not any(
        line[:1] in "+-!" and line[1:].lstrip()[:2] in ("+ ", "- ", "~ ") for line in lines
    )
    assert page.summaries == ["The plan of platform"]
    no_runner_detail(page, tmp_path)
    assert d.parse(d.render(m)) == m


def test_a_destroy_in_a_16_layer_repository_is_on_top_and_untouched_layers_fold(
    tmp_path: Path,
) -> None:
    m = stories.destroy_in_16(tmp_path / "repo")
    page = look("destroy-16-layers", d.render(m), tmp_path)

    labels = [row[0] for row in page.tables[0][1:]]
    assert labels == [
        "CI Validate",
        "Plan: platform",
        "Plan: data-prod",
        "Plan: 14 others",
        "Apply",
        "AI Review",
    ]
    rows = page.rows()
    assert rows["Plan: platform"][:2] == ["⚠️", "1 to destroy · Log"]
    assert rows["Plan: data-prod"][:2] == ["✅", "3 to add · Log"]
    assert rows["Plan: 14 others"][0] == "➖"
    assert rows["Plan: 14 others"][1] == "not touched: bootstrap, network, dns and 11 more"
    # No cell wraps on GitHub's width: the folded row is short, the times stay on one line.
    assert all(len(row[2]) <= 50 for row in page.tables[0][1:])
    assert rows["CI Validate"][2] == "2026-11-30 12:54 UTC"
    assert page.index("platform destroys terraform_data.legacy_lb") < page.index("Stage Status")
    assert "⚠️ destroy terraform_data.legacy_lb" in page.blocks
    # Anchors are the commit's own: two dashboards on one PR never share a link target.
    assert page.anchors == ["plan-9f2c4e1-platform", "plan-9f2c4e1-data-prod"]
    assert ("1 to destroy", "#plan-9f2c4e1-platform") in page.links
    assert d.parse(d.render(m)) == m


def test_a_partial_apply_posts_what_happened_and_what_is_left(tmp_path: Path) -> None:
    m, comment = stories.partial_apply(tmp_path / "repo")
    page = look("partial-apply", comment, tmp_path, unfold=True)

    assert page.headings == ["✅ /apply of network: applied"]
    assert page.rows() == {
        "Layer": ["Result", "Terraform says"],
        "network": ["✅ applied", "Apply complete! Resources: 2 added, 0 changed, 0 destroyed."],
    }
    assert "Still to apply: platform (1 to add). Comment /apply when they are reviewed." in (
        page.blocks
    )
    assert page.summaries == ["Output of network"]  # the output is folded
    assert "Apply complete!" in page.code_blocks[0][1]
    assert m.layer("network").applied_summary.startswith("Apply complete! Resources: 2 added")
    assert [layer.name for layer in m.pending_changes] == ["platform"]
    dashboard = look("partial-apply-dashboard", d.render(m), tmp_path)
    assert dashboard.rows()["Apply"][:2] == ["✅", "network ✅ · Log"]
    no_runner_detail(page, tmp_path)


def test_a_full_apply_posts_each_layers_summary_line(tmp_path: Path) -> None:
    m, comment = stories.full_apply(tmp_path / "repo")
    page = look("full-apply", comment, tmp_path)

    assert page.headings == ["✅ /apply of network, platform: applied"]
    assert page.rows()["platform"] == [
        "✅ applied",
        "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.",
    ]
    assert "Still to apply" not in page.text
    assert page.summaries == ["Output of network", "Output of platform"]
    assert m.state is d.State.READY_MERGE
    assert all(layer.applied is Outcome.OK for layer in m.layers)
    assert page_of(d.render(m)).blocks[0] == "✅ Applied: ready to merge"


def test_the_digest_covers_exactly_what_a_layer_shows(tmp_path: Path) -> None:
    m = stories.replace_plan(tmp_path / "repo")
    record = m.layer("platform").record
    assert record is not None
    shown = "\n".join(layer_view("platform", record))
    assert shown in d.render(m)  # the dashboard shows this text, whole
    again = d.parse(d.render(m)).layer("platform").record
    assert again is not None and view_digest("platform", again) == view_digest("platform", record)
    assert record.digest == view_digest("platform", record)  # recorded at review time


def test_help_explains_each_icon_once(tmp_path: Path) -> None:
    body = help_text(stories.LAYERS_16[:4], ["smoke"], {"apply": "maintain"})
    page = look("help", body, tmp_path)

    icons = page.rows()  # the legend is the last table
    assert icons.pop("Icon") == ["Meaning"]
    assert set(icons) == {status.icon for status in d.Status}  # every icon the rows use
    meanings = [meaning for [meaning] in icons.values()]
    assert len(set(meanings)) == len(meanings)  # one meaning each
    assert icons["➖"] == ["layers this commit does not touch, folded into one row"]
    commands = page.rows(0)
    assert commands["/apply"][-1] == "maintain"
    assert "\\" not in page.text and "\\`" not in page.text  # nothing escaped shows


def test_the_drift_issue_and_the_merged_summary_speak_the_dashboards_language(
    tmp_path: Path,
) -> None:
    issue, merged = stories.drift_and_merge(tmp_path / "repo")

    page = look("drift-issue", issue, tmp_path, unfold=True)
    assert "Changes: 1 to add, 1 to change, 1 to replace" in page.blocks
    changes = page.rows()
    assert changes["⚠️ replace"] == ["terraform_data.web", "code or inputs"]
    [(lang, diff)] = page.code_blocks
    assert lang == "diff"
    lines = diff.splitlines()
    assert '-/+  resource "terraform_data" "web" {' in lines  # the dashboard's diff style
    assert "     }" in lines  # aligned under its resource, as on the dashboard
    assert page.summaries == ["The plan of platform"]

    page = look("merged-summary", merged, tmp_path)
    assert page.headings == ["🔁 After merge: 9f2c4e1 on main"]
    rows = page.rows()
    assert rows["platform"][:2] == ["🚀 applied", "1 to add, 1 to change, 1 to replace"]
    assert rows["network"][:2] == ["✅ in sync", "-"]
    assert rows["data-prod"][0] == "❌ failed"
    assert rows["edge"][2] == "skipped: data-prod failed"
    assert "E2E smoke: ⏭️ not run: data-prod failed" in page.blocks
    assert page.summaries == ["data-prod: error"]
    assert "\\`" not in page.text


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian: chromium)")
def test_screenshots_are_taken(tmp_path: Path) -> None:
    png = screenshot("# ok\n\n| a | b |\n|-|-|\n| ✅ | x |\n", "check", tmp_path / "x.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
