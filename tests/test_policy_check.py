"""Reading what Rego policies said about a plan (conftest's conventions), the dashboard's
record of it, and the gate it puts before `/apply`: pure parts, and regopy itself on real
policies in both Rego syntaxes."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra_pipeline.adapters.rego import (
    PolicyLoadError,
    RegoPolicies,
    committed_modules,
    local_modules,
)
from infra_pipeline.config import Role
from infra_pipeline.core.dashboard import steps as dash
from infra_pipeline.core.gate import approve_refusal, check_approval, check_policies
from infra_pipeline.core.github_models import Comment
from infra_pipeline.core.policy_check import (
    Approval,
    PolicyResult,
    read_namespace,
    result_of,
    rule_kind,
)
from infra_pipeline.models import PlanCounts

SHA = "a" * 40
BASE = "b" * 40
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DESTROY_PLAN: dict[str, Any] = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": "aws_db_instance.main",
            "type": "aws_db_instance",
            "change": {"actions": ["delete"], "before": {"tags": {}}, "after": None},
        },
        {
            "address": "aws_s3_bucket.logs",
            "type": "aws_s3_bucket",
            "change": {"actions": ["create"], "before": None, "after": {"tags": {}}},
        },
    ],
}

# -- reading the answer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "kind"),
    [
        ("deny", "deny"),
        ("violation", "deny"),
        ("deny_untagged", "deny"),
        ("violation_x", "deny"),
        ("warn", "warn"),
        ("warn_cost", "warn"),
        ("denylist", None),
        ("allow", None),
        ("test_deny", None),
    ],
)
def test_the_rules_conftest_reads(rule: str, kind: str | None) -> None:
    assert rule_kind(rule) == kind


def test_messages_are_strings_msg_objects_or_a_rules_own_name() -> None:
    failures, warnings = read_namespace(
        {
            "deny": ["a string"],
            "violation": [{"msg": "an object", "details": {"x": 1}}],
            "deny_bare": True,
            "deny_off": False,
            "warn": [{"no_msg": 1}],
            "warn_v0": {"a v0 message": True, '{"msg":"a v0 object"}': True},
            "helper": ["not a rule"],
        }
    )
    assert failures == ["a string", "deny_bare", "an object"]  # rules in name order
    assert warnings == ['{"no_msg": 1}', "a v0 message", "a v0 object"]


def test_a_namespace_nobody_declares_says_nothing() -> None:
    assert read_namespace(None) == ([], [])
    assert result_of("data", [None, {"deny": []}]) == PolicyResult("data")


def test_namespaces_are_merged_each_message_once() -> None:
    result = result_of("data", [{"deny": ["x"], "warn": ["w"]}, {"deny": ["x", "y"]}])
    assert result == PolicyResult("data", ("x", "y"), ("w",))
    assert result.failed


# -- regopy on real policies --------------------------------------------------------------------

REGO_V1 = """package main
import rego.v1

deny contains msg if {
    some rc in input.resource_changes
    "delete" in rc.change.actions
    startswith(rc.type, "aws_db")
    msg := sprintf("%s would be destroyed", [rc.address])
}

warn_tags contains {"msg": sprintf("%s has no owner tag", [rc.address]), "details": {}} if {
    some rc in input.resource_changes
    rc.change.after != null
    not rc.change.after.tags.owner
}
"""
# The spelling of most conftest policies written before Rego v1.
REGO_V0 = """package terraform.s3

violation[{"msg": msg}] {
    rc := input.resource_changes[_]
    rc.type == "aws_s3_bucket"
    rc.change.actions[_] == "create"
    msg := sprintf("%s: new buckets need a review", [rc.address])
}
"""


def test_regopy_reads_conftest_policies_in_both_rego_syntaxes() -> None:
    policies = RegoPolicies({"v1.rego": REGO_V1, "v0.rego": REGO_V0})
    answers = policies.evaluate(DESTROY_PLAN, ["main", "terraform.s3", "absent"])
    result = result_of("data", answers)
    assert result.failures == (
        "aws_db_instance.main would be destroyed",
        "aws_s3_bucket.logs: new buckets need a review",
    )
    assert result.warnings == ("aws_s3_bucket.logs has no owner tag",)
    # The same interpreter checks the next plan with its own input.
    assert result_of("other", policies.evaluate({"resource_changes": []}, ["main"])).failures == ()


def test_a_policy_that_does_not_parse_names_its_file() -> None:
    with pytest.raises(PolicyLoadError) as caught:
        RegoPolicies({"policy/broken.rego": "package main\ndeny contains msg if {\n"})
    assert caught.value.message == "policy/broken.rego:2: this is unclosed"


def test_no_policy_files_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    with pytest.raises(PolicyLoadError, match=r"no \.rego files"):
        RegoPolicies(local_modules(tmp_path, ["policy/"]))
    with pytest.raises(PolicyLoadError, match="does not exist"):
        local_modules(tmp_path, ["elsewhere/"])


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_default_branch_s_policies_are_read_from_its_commit_not_the_work_tree(
    tmp_path: Path,
) -> None:
    """What the contents API would answer at that commit, by the same names (repository
    paths; infra.yaml in `infra/`), without a request per file."""
    repo = tmp_path / "repo"
    (repo / "infra" / "policy" / "nested").mkdir(parents=True)
    (repo / "infra" / "policy" / "a.rego").write_text("package a\n")
    (repo / "infra" / "policy" / "nested" / "b.rego").write_text("package b\n")
    (repo / "infra" / "policy" / "README.md").write_text("not a policy\n")
    (repo / "infra" / "extra.rego").write_text("package extra\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "policies")
    base = git(repo, "rev-parse", "HEAD")
    (repo / "infra" / "policy" / "a.rego").write_text("package weakened\n")  # the PR's copy

    found = committed_modules(repo, base, "infra", ["policy/", "extra.rego"], "main")

    assert found == {
        "infra/policy/a.rego": "package a\n",
        "infra/policy/nested/b.rego": "package b\n",
        "infra/extra.rego": "package extra\n",
    }
    with pytest.raises(PolicyLoadError, match="'gone/' does not exist on main"):
        committed_modules(repo, base, "infra", ["gone/"], "main")
    assert committed_modules(repo, "f" * 40, "infra", ["policy/"], "main") is None  # not here


# -- the dashboard and the gate -----------------------------------------------------------------


def planned(*layers: str) -> dash.Dashboard:
    m = dash.new_dashboard(
        repo="acme/infra",
        pr=7,
        head_sha=SHA,
        base_sha=BASE,
        layers=layers,
        server_url="https://github.com",
    )
    record = dash.PlanRecord(SHA, BASE, "f", PlanCounts(0, 0, 1), True, destroys=("x.y",))
    for name in layers:
        m = dash.finish_plan_record(m, name, record, 1, NOW)
    return m


def test_a_failed_policy_blocks_apply_until_approved_for_what_it_saw() -> None:
    m = planned("data", "web")
    m = dash.record_policies(
        m, [PolicyResult("data", ("db destroyed",)), PolicyResult("web", (), ("w",))]
    )
    refusal = check_policies(m, ["data"], Role.MAINTAIN)
    assert refusal is not None and "- data: db destroyed" in refusal.reason
    assert "`maintain` role" in refusal.reason
    assert check_policies(m, ["web"], Role.MAINTAIN) is None  # warnings block nothing
    assert dash.next_step(m).startswith("❌ The policy check failed in `data`")

    approved = dash.approve_policies(m, "alice", "admin")
    assert check_policies(approved, ["data", "web"], Role.MAINTAIN) is None
    assert dash.parse(dash.render(approved)) == approved  # the approval lives in the comment

    # A new plan of the same commit that fails differently needs a new approval.
    replanned = dash.start_plan(approved, ["data"], 2, NOW)
    record = approved.layer("data").record
    assert record is not None
    replanned = dash.finish_plan_record(replanned, "data", record, 2, NOW)
    replanned = dash.record_policies(replanned, [PolicyResult("data", ("db destroyed", "more"))])
    assert replanned.policy_blocked(["data"]) == ("data: more",)


def test_a_new_plan_forgets_the_layers_policy_result() -> None:
    m = dash.record_policies(planned("data"), [PolicyResult("data", ("x",))])
    assert dash.start_plan(m, ["data"], 2, NOW).layer("data").policy is None


def test_long_policy_output_is_kept_short_on_the_dashboard() -> None:
    many = tuple(f"failure {i} " + "x" * 400 for i in range(30))
    m = dash.record_policies(planned("data"), [PolicyResult("data", many)])
    kept = m.layer("data").policy
    assert kept is not None and len(kept.failures) == dash.POLICY_MESSAGES_KEPT
    assert all(len(text) <= dash.POLICY_MESSAGE_LIMIT for text in kept.failures)
    assert kept.failures[-1] == "... and 11 more failures (see the job log)"
    assert dash.parse(dash.render(m)) == m


@pytest.mark.parametrize(
    ("role", "approvers", "allowed"),
    [
        (Role.WRITE, Role.MAINTAIN, False),
        (Role.MAINTAIN, Role.MAINTAIN, True),
        (Role.ADMIN, Role.MAINTAIN, True),
        (Role.MAINTAIN, Role.ADMIN, False),
        (Role.WRITE, Role.WRITE, True),
    ],
)
def test_who_may_approve(role: Role, approvers: Role, allowed: bool) -> None:
    refusal = approve_refusal("bob", role, approvers)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert (
            f"needs the `{approvers}` role" in refusal.reason and f"has `{role}`" in refusal.reason
        )


def test_approving_without_policies_says_there_is_nothing_to_approve() -> None:
    refusal = approve_refusal("alice", Role.ADMIN, None)
    assert refusal is not None and "no policy checks" in refusal.reason


def test_the_docs_show_the_examples_policy_as_it_is() -> None:
    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "policies.md").read_text()
    shown = page.split("```rego\n", 1)[1].split("```", 1)[0]
    assert shown == (root / "examples" / "homelab" / "policy" / "database.rego").read_text()


def approval_comment(
    body: str,
    user: str = "alice",
    pr: int = 7,
    posted: datetime = NOW,
    edited: datetime | None = None,
) -> Comment:
    url = f"https://github.com/acme/infra/pull/{pr}#issuecomment-5"
    return Comment(5, "IC_5", body, user, "User", posted, edited or posted, url)


@pytest.mark.parametrize(
    ("comment", "role", "why"),
    [
        (approval_comment("/approve_policies"), Role.ADMIN, None),
        (approval_comment("atlantis approve_policies"), Role.MAINTAIN, None),
        (None, Role.ADMIN, "its comment is gone"),
        (approval_comment("/approve_policies", user="bob"), Role.ADMIN, "by @bob, not @alice"),
        (approval_comment("/approve_policies", pr=8), Role.ADMIN, "not on this pull request"),
        (approval_comment("/plan"), Role.ADMIN, "does not say `/approve_policies`"),
        (approval_comment("/approve_policies"), Role.WRITE, "no longer has the `maintain` role"),
        # A writer rewrote a maintainer's comment (GitHub lets writers edit anyone's).
        (
            approval_comment("/approve_policies", edited=NOW + timedelta(minutes=1)),
            Role.ADMIN,
            "edited after it was posted",
        ),
        # An approval of an earlier commit, pointed at by a rewritten dashboard.
        (
            approval_comment("/approve_policies", posted=NOW - timedelta(hours=1)),
            Role.ADMIN,
            "approved an earlier commit",
        ),
    ],
)
def test_apply_verifies_the_approval_the_dashboard_records(
    comment: Comment | None, role: Role, why: str | None
) -> None:
    approval = Approval("alice", "admin", ("data: x",), comment_id=5)
    refusal = check_approval(approval, comment, role, Role.MAINTAIN, 7, since=NOW)
    if why is None:
        assert refusal is None
    else:
        assert refusal is not None and why in refusal.reason
