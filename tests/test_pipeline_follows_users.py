"""The commit's pipeline follows what users do, in any order: `/plan` before the automatic run,
`/apply` one layer at a time, a force-push back to an older head. Real Terraform on the
example, real git, the GitHub stand-in; what is asserted is what a user sees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from homelab import state_resources
from infra_pipeline.core.dashboard.steps import (
    Dashboard,
    State,
    Status,
    parse,
    render,
    start_plan,
)
from prstory import Repo, dashboard_body, dashboard_of, git, make_repo, replies
from standin import GitHubStandIn

PLATFORM_FILE = "modules/platform/main.tf"
STAGING_FILE = "modules/data-staging/main.tf"


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    return make_repo(tmp_path, standin, gh_env)


def statuses(standin: GitHubStandIn, sha: str) -> dict[str, str]:
    return {context: s.state for context, s in standin.latest_statuses(sha).items()}


def no_row_running(m: Dashboard) -> bool:
    rows = [m.ci, m.apply, m.review, *(layer.plan for layer in m.layers)]
    return all(row.status is not Status.RUNNING for row in rows)


def change_both(repo: Repo) -> str:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more ingress replicas")
    return repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")


def test_plan_on_a_commit_whose_pipeline_never_started(repo: Repo, standin: GitHubStandIn) -> None:
    # The pull_request job never ran (Actions was down, or the workflow came later): the
    # first thing this commit sees is a `/plan` comment. It validates first, then plans.
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    repo.open_pr(7, head, [PLATFORM_FILE])

    result, _ = repo.comment(7, "/plan", "alice")

    assert result.code == 0, result.out + result.err
    m = dashboard_of(standin, 7, head)
    assert m.ci.status is Status.OK
    assert m.layer("platform").record is not None
    assert m.layer("platform").record.has_changes
    assert m.state is State.PLAN_DIFF
    assert statuses(standin, head) == {"infra/plan": "success", "infra/apply": "pending"}
    assert replies(standin, 7) == []


def test_plan_on_a_commit_whose_validation_fails_says_so(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = var.missing", "typo")
    repo.open_pr(7, head, [PLATFORM_FILE])

    result, _ = repo.comment(7, "/plan", "alice")

    assert result.code == 1
    m = dashboard_of(standin, 7, head)
    assert m.ci.status is Status.FAILED and m.state is State.CI_FAILED
    assert m.layer("platform").record is None and no_row_running(m)
    assert statuses(standin, head)["infra/plan"] == "failure"


def test_apply_one_layer_then_the_next(repo: Repo, standin: GitHubStandIn) -> None:
    head = change_both(repo)
    repo.open_pr(7, head, [PLATFORM_FILE, STAGING_FILE])
    assert repo.pr_event(7).code == 0

    first, _ = repo.comment(7, "/apply platform", "alice")

    assert first.code == 0, first.out + first.err
    m = dashboard_of(standin, 7, head)
    assert m.state is not State.READY_MERGE
    assert [layer.name for layer in m.pending_changes] == ["data-staging"]
    assert "ready to merge" not in dashboard_body(standin, 7, head)
    assert statuses(standin, head)["infra/apply"] == "pending"

    second, _ = repo.comment(7, "/apply data-staging", "alice")

    assert second.code == 0, second.out + second.err
    assert state_resources(repo.root, "data-staging") != []
    m = dashboard_of(standin, 7, head)
    assert m.state is State.READY_MERGE and m.pending_changes == ()
    assert m.apply.status is Status.OK and no_row_running(m)
    assert "ready to merge" in dashboard_body(standin, 7, head)
    assert statuses(standin, head) == {"infra/plan": "success", "infra/apply": "success"}


def test_a_refused_apply_leaves_no_lock_and_no_running_row(
    repo: Repo, standin: GitHubStandIn
) -> None:
    # An apply that cannot start where the commit stands (its plan is still running in
    # another job) is refused before any lock is taken.
    head = change_both(repo)
    repo.open_pr(7, head, [PLATFORM_FILE, STAGING_FILE])
    assert repo.pr_event(7).code == 0
    held_before = {ref for ref in standin.refs if ref.startswith("refs/infra-locks/")}
    standin.add_workflow_run(999, "in_progress")  # a `/plan platform` job, still going
    comment = next(c for c in standin.comments(7) if c.body.startswith("<!-- infra-dashboard"))
    comment.body = render(start_plan(parse(comment.body), ["platform"], 999, datetime.now(UTC)))

    result, _ = repo.comment(7, "/apply data-staging", "alice")

    assert result.code == 1
    assert "wait" in replies(standin, 7)[-1]
    assert {r for r in standin.refs if r.startswith("refs/infra-locks/")} == held_before
    assert state_resources(repo.root, "data-staging") == []
    m = dashboard_of(standin, 7, head)
    assert m.apply.status is Status.PENDING  # the apply never showed as running
    assert m.state is State.PLAN_RUNNING and m.layer("platform").plan.run_id == 999


def test_force_push_back_to_an_earlier_head_revives_its_dashboard(
    repo: Repo, standin: GitHubStandIn
) -> None:
    h1 = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    repo.open_pr(7, h1, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    h2 = repo.commit(PLATFORM_FILE, "replicas    = 3", "replicas    = var.missing", "typo")
    repo.push(7, h2, [PLATFORM_FILE])
    assert repo.pr_event(7, "synchronize").code == 1  # CI Validate fails on H2
    assert dashboard_of(standin, 7, h1).superseded_by == h2
    assert folded(standin, 7) == {h1[:7]: True, h2[:7]: False}

    git(repo.root, "reset", "-q", "--hard", h1)  # force-push back
    repo.push(7, h1, [PLATFORM_FILE])
    result = repo.pr_event(7, "synchronize")

    assert result.code == 0, result.out + result.err
    m1 = dashboard_of(standin, 7, h1)
    assert m1.superseded_by is None
    assert m1.ci.status is Status.OK and m1.state is State.PLAN_DIFF
    assert dashboard_of(standin, 7, h2).superseded_by == h1
    assert "Superseded" not in dashboard_body(standin, 7, h1)
    assert statuses(standin, h1) == {"infra/plan": "success", "infra/apply": "pending"}
    # Shown again: H1's dashboard unfolded (GraphQL unminimizeComment), H2's folded away.
    assert folded(standin, 7) == {h1[:7]: False, h2[:7]: True}


def folded(standin: GitHubStandIn, number: int) -> dict[str, bool]:
    """Whether each dashboard of the PR is minimized, by its commit's short SHA."""
    return {
        parse(c.body).sha7: c.minimized
        for c in standin.comments(number)
        if c.body.startswith("<!-- infra-dashboard:")
    }
