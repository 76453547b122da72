"""One entry for every event. The whole PR story and each refusal, with real
Terraform on the example, a real git checkout, and the GitHub stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab import code_path, state_resources
from infra_pipeline.core.dashboard.model import Status
from infra_pipeline.core.dashboard.state_machine import State
from infra_pipeline.models import Outcome
from prstory import Repo, dashboard_of, make_repo, replies
from standin import GitHubStandIn

PLATFORM_FILE = "modules/platform/main.tf"
STAGING_FILE = "modules/data-staging/main.tf"


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    standin.set_permission("walter", "write")
    standin.set_permission("rita", "read")
    return make_repo(tmp_path, standin, gh_env)


def change_platform(repo: Repo) -> str:
    """A commit to platform's code (in the modules tree as shipped, in the layer's directory
    on plain OpenTofu)."""
    path = code_path(repo.root, "platform")
    return repo.commit(path, "replicas    = 2", "replicas    = 3", "more ingress replicas")


def open_pr(repo: Repo, number: int = 7) -> str:
    head = change_platform(repo)
    repo.open_pr(number, head, [code_path(repo.root, "platform")])
    result = repo.pr_event(number)
    assert result.code == 0, result.out + result.err
    return head


@pytest.mark.parametrize("engine", ["", "tofu"], ids=["as-shipped", "tofu"])
def test_pr_story_plan_apply_lock_release(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], engine: str
) -> None:
    """platform is a Terragrunt unit as shipped; the variant runs every layer on OpenTofu."""
    standin.set_permission("alice", "maintain")
    repo = make_repo(tmp_path, standin, gh_env, engine=engine)
    head = open_pr(repo)

    m = dashboard_of(standin, 7, head)
    assert m.ci.status is Status.OK
    platform = m.layer("platform")  # touched: planned, with changes
    assert platform.plan.status is Status.OK
    assert platform.record is not None and platform.record.has_changes
    untouched = [layer.name for layer in m.layers if layer.plan.status is Status.UNTOUCHED]
    assert untouched == ["bootstrap", "data-staging", "data-prod"]
    assert m.state is State.PLAN_DIFF  # the dashboard asks for `/apply`
    statuses = standin.latest_statuses(head)
    assert statuses["infra/plan"].state == "success"
    assert statuses["infra/apply"].state == "pending"

    result, comment_id = repo.comment(7, "/apply", "alice")
    assert result.code == 0, result.out + result.err
    assert standin.reactions(comment_id) == ["eyes", "rocket"]
    assert "module.ingress.terraform_data.deployment" in state_resources(repo.root, "platform")
    assert state_resources(repo.root, "data-prod") == []  # not part of the PR
    m = dashboard_of(standin, 7, head)
    assert m.apply.status is Status.OK and m.layer("platform").applied is Outcome.OK
    assert m.state is State.READY_MERGE  # review.auto is off in the example
    assert standin.latest_statuses(head)["infra/apply"].state == "success"
    deployments = [d for d in standin.deployments if d.environment == "platform"]
    assert len(deployments) == 1 and deployments[0].statuses[-1].state == "success"
    assert "refs/infra-locks/platform" in standin.refs
    audit = [line for line in result.out.splitlines() if line.startswith("infra-audit ")]
    record = json.loads(audit[-1].removeprefix("infra-audit "))
    assert record["who"] == "alice" and record["result"] == "ok"
    assert record["fingerprints"]["platform"]

    standin.pulls[7].state = "closed"
    closed = repo.pr_event(7, "closed")
    assert closed.code == 0, closed.out + closed.err
    assert "refs/infra-locks/platform" not in standin.refs


def test_read_only_commenter_is_refused(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo)
    result, comment_id = repo.comment(7, "/apply", "rita")
    assert result.code == 1
    assert "needs the `maintain` role" in replies(standin, 7)[-1]
    assert standin.reactions(comment_id) == ["eyes", "confused"]
    assert state_resources(repo.root, "platform") == []


def test_writer_cannot_apply_where_maintain_is_required(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo)
    result, _ = repo.comment(7, "/apply", "walter")
    assert result.code == 1
    assert "@walter needs the `maintain` role" in replies(standin, 7)[-1]


def test_fork_pull_requests_are_refused(repo: Repo, standin: GitHubStandIn) -> None:
    head = change_platform(repo)
    repo.open_pr(9, head, [PLATFORM_FILE], fork=True, head_repo="mallory/infra")
    opened = repo.pr_event(9)
    assert opened.code == 0 and "fork" in opened.out
    result, _ = repo.comment(9, "/plan", "alice")
    assert result.code == 1
    assert "refused on pull requests from forks" in replies(standin, 9)[-1]
    assert not list((repo.root / "platform").glob(".terraform"))


def test_apply_before_any_plan_is_refused(repo: Repo, standin: GitHubStandIn) -> None:
    head = change_platform(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    result, _ = repo.comment(7, "/apply platform", "alice")
    assert result.code == 1
    assert "no plan" in replies(standin, 7)[-1].lower()
    assert state_resources(repo.root, "platform") == []


def test_apply_after_a_new_push_is_refused(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo)
    newer = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.push(7, newer, [PLATFORM_FILE, STAGING_FILE])
    result, _ = repo.comment(7, "/apply", "alice")
    assert result.code == 1
    assert newer[:7] in replies(standin, 7)[-1]
    assert state_resources(repo.root, "platform") == []


def test_plan_that_changed_since_review_is_refused(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo)
    # Out-of-band: the live cluster is renamed after the plan was reviewed, which changes
    # what the platform layer would apply.
    live = repo.root / "live" / "cluster.json"
    live.write_text(live.read_text().replace('"homelab"', '"homelab-2"'))
    result, _ = repo.comment(7, "/apply platform", "alice")
    assert result.code == 1
    reply = replies(standin, 7)[-1]
    assert "the plan for `platform` changed since it was reviewed" in reply
    assert state_resources(repo.root, "platform") == []
    assert dashboard_of(standin, 7, standin.pulls[7].head_sha).apply.status is Status.FAILED


def test_layer_locked_by_another_pr(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo, 7)
    assert repo.comment(7, "/apply", "alice")[0].code == 0
    applied = state_resources(repo.root, "platform")

    # A second PR on the same layer, from the same base.
    repo_root = repo.root
    from prstory import git

    git(repo_root, "checkout", "-q", repo.base)
    git(repo_root, "checkout", "-qb", "other")
    other = repo.commit(PLATFORM_FILE, '"prometheus"', '"victoria-metrics"', "swap monitoring")
    repo.open_pr(8, other, [PLATFORM_FILE])
    assert repo.pr_event(8).code == 0
    assert dashboard_of(standin, 8, other).layer("platform").lock == "locked by #7"
    result, _ = repo.comment(8, "/apply", "alice")
    assert result.code == 1
    assert "`platform` is locked by #7" in replies(standin, 8)[-1]
    assert state_resources(repo.root, "platform") == applied


def test_unknown_layer_gets_a_suggestion(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo)
    result, comment_id = repo.comment(7, "/plan data-prd", "alice")
    assert result.code == 2
    assert "did you mean `data-prod`" in replies(standin, 7)[-1].lower()
    assert standin.reactions(comment_id) == ["confused"]


def test_shell_metacharacters_never_run(repo: Repo, standin: GitHubStandIn) -> None:
    open_pr(repo)
    marker = repo.root / "pwned"
    result, _ = repo.comment(7, f"/plan platform; touch {marker}", "alice")
    assert result.code == 2
    assert not marker.exists()
    assert "unknown" in replies(standin, 7)[-1].lower()


def test_help_lists_commands_layers_and_suites(repo: Repo, standin: GitHubStandIn) -> None:
    head = change_platform(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    result, _ = repo.comment(7, "/help", "rita")  # anyone may ask for help
    assert result.code == 0
    text = replies(standin, 7)[-1]
    for word in ("/plan", "/apply", "/unlock", "data-prod", "smoke", "atlantis plan"):
        assert word in text


def test_ignored_event_logs_one_line(repo: Repo) -> None:
    result = repo.event("release", {"action": "published"})
    assert result.code == 0
    assert "not handled" in result.out


def test_draft_pull_requests_are_not_planned(repo: Repo, standin: GitHubStandIn) -> None:
    head = change_platform(repo)
    repo.open_pr(7, head, [PLATFORM_FILE], draft=True)
    result = repo.pr_event(7)
    assert result.code == 0 and "draft" in result.out
    assert standin.comments(7) == []


def test_ci_validate_failure_annotates_the_file_and_skips_the_plan(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = var.missing", "typo")
    repo.open_pr(7, head, [PLATFORM_FILE])
    result = repo.pr_event(7)
    assert result.code == 1
    assert "::error file=modules/platform/main.tf,line=" in result.out
    m = dashboard_of(standin, 7, head)
    assert m.ci.status is Status.FAILED
    assert m.layer("platform").plan.status is not Status.OK and m.state is State.CI_FAILED
    assert standin.latest_statuses(head)["infra/plan"].state != "success"


def test_workflow_dispatch_runs_the_chosen_command(repo: Repo) -> None:
    from standin import make_event

    payload = make_event("workflow_dispatch", inputs={"command": "plan", "layer": "data-prod"})
    result = repo.event("workflow_dispatch", payload)
    assert result.code == 0, result.out + result.err
    assert "data-prod" in result.out and "+2 ~0 -0" in result.out
    assert "platform" not in result.out.split("Plan")[-1]
