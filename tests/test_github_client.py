"""The GitHub client against the stand-in: real HTTP, GitHub's status codes, injected faults."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra_pipeline.adapters.github.client import GitHub, graphql_url, route_template
from infra_pipeline.errors import InfraError
from standin import DEFAULT_REPO, FileChange, GitHubStandIn

COMMENTS = ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
LIST_COMMENTS = ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
GET_PULL = ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(standin: GitHubStandIn, sleeps: list[float]) -> Iterator[Callable[..., GitHub]]:
    """Build a client on the stand-in; sleeping is recorded, not done."""
    built: list[GitHub] = []

    def build(**options: Any) -> GitHub:
        options.setdefault("sleep", sleeps.append)
        api_url = options.pop("api_url", standin.url)
        built.append(GitHub("ghs_test", DEFAULT_REPO, api_url, **options))
        return built[-1]

    yield build
    for gh in built:
        gh.close()


# -- configuration --------------------------------------------------------------------------------


def test_from_env_uses_the_actions_variables(gh_env: dict[str, str]) -> None:
    gh = GitHub.from_env(gh_env)
    assert (gh.owner, gh.repo) == ("acme", "infra")
    assert gh.api_url == gh_env["GITHUB_API_URL"]
    assert gh.graphql_url == gh_env["GITHUB_API_URL"] + "/graphql"


@pytest.mark.parametrize(
    ("missing", "hint"),
    [("GITHUB_TOKEN", "github.token"), ("GITHUB_REPOSITORY", "owner/name")],
)
def test_from_env_says_what_is_missing(gh_env: dict[str, str], missing: str, hint: str) -> None:
    env = {k: v for k, v in gh_env.items() if k != missing}
    with pytest.raises(InfraError, match=missing) as raised:
        GitHub.from_env(env)
    assert hint in raised.value.hint


def test_a_malformed_repository_is_refused(gh_env: dict[str, str]) -> None:
    with pytest.raises(InfraError, match="owner/name"):
        GitHub.from_env({**gh_env, "GITHUB_REPOSITORY": "just-a-name"})


def test_defaults_to_github_com() -> None:
    gh = GitHub.from_env({"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/infra"})
    assert gh.api_url == "https://api.github.com"
    assert gh.graphql_url == "https://api.github.com/graphql"


@pytest.mark.parametrize(
    ("api", "graphql"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
        ("https://api.acme.ghe.com", "https://api.acme.ghe.com/graphql"),
    ],
)
def test_graphql_url_follows_the_rest_url(api: str, graphql: str) -> None:
    assert graphql_url(api) == graphql


def test_github_enterprise_server_urls_work(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    standin.add_pull(3)
    comment = standin.add_comment(3, "old dashboard")
    gh = client(api_url=standin.ghes_api_url)

    assert gh.get_pull(3).number == 3
    assert gh.minimize_comment(comment.node_id) is True  # GraphQL at <host>/api/graphql
    assert standin.comments(3)[0].minimized
    assert gh.requests == {GET_PULL: 1, ("POST", "/graphql"): 1}


def test_route_templates_match_every_route() -> None:
    assert route_template("/repos/a/b/issues/comments/5") == (
        "/repos/{owner}/{repo}/issues/comments/{comment_id}"
    )
    assert route_template("/repos/a/b/issues/5/comments") == LIST_COMMENTS[1]
    assert route_template("/repos/a/b/git/ref/heads/infra-lock/platform") == (
        "/repos/{owner}/{repo}/git/ref/{ref}"
    )
    assert route_template("/nowhere") == "/nowhere"


# -- reading pull requests ------------------------------------------------------------------------


def test_lists_every_page_of_files_and_comments(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    files: list[str | tuple[str, str] | FileChange] = [f"layers/{i}/main.tf" for i in range(248)]
    files += [("platform/new.tf", "platform/old.tf"), FileChange("gone.tf", "removed")]
    standin.add_pull(7, files=files)
    for i in range(130):
        standin.add_comment(7, f"comment {i}")
    gh = client()

    paths = gh.list_pull_files(7)
    comments = gh.list_issue_comments(7)

    assert len(paths) == 251  # 250 files and the old path of the rename
    assert paths[-3:] == ["platform/new.tf", "platform/old.tf", "gone.tf"]
    assert [c.body for c in comments] == [f"comment {i}" for i in range(130)]
    assert gh.requests == {
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"): 3,  # 100 + 100 + 50
        LIST_COMMENTS: 2,  # 100 + 30
    }


def test_pull_request_records(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    own = standin.add_pull(1, title="Add a node", author="alice", mergeable=None)
    fork = standin.add_pull(2, fork=True, draft=True, author="mallory")
    merged = standin.add_pull(3, state="closed", merged=True, merge_commit_sha="c" * 40)
    gh = client()

    pull = gh.get_pull(1)
    assert (pull.title, pull.author, pull.head_sha, pull.base_ref) == (
        "Add a node",
        "alice",
        own.head_sha,
        "main",
    )
    assert (pull.is_fork, pull.draft, pull.mergeable, pull.head_repo) == (
        False,
        False,
        None,
        "acme/infra",
    )
    forked = gh.get_pull(2)
    assert (forked.is_fork, forked.draft, forked.head_repo) == (True, True, "mallory/infra")
    assert [p.number for p in gh.list_pulls_for_commit(fork.head_sha)] == [2]
    [found] = gh.list_pulls_for_commit("c" * 40)
    assert (found.number, found.merged, found.state) == (merged.number, True, "closed")
    assert gh.list_pulls_for_commit("d" * 40) == []


def test_diff_and_reviews(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    pull = standin.add_pull(4, files=["platform/main.tf"])
    gh = client()

    assert "+++ b/platform/main.tf" in gh.get_pull_diff(4)
    review_id = gh.create_review(4, "Plan looks safe.", commit_id=pull.head_sha)
    [review] = gh.list_reviews(4)
    assert (review.id, review.state, review.commit_id, review.user) == (
        review_id,
        "COMMENTED",
        pull.head_sha,
        "github-actions[bot]",
    )


# -- writing comments, safely ---------------------------------------------------------------------


def test_a_502_before_the_write_is_retried_once_and_creates_one_comment(
    standin: GitHubStandIn, client: Callable[..., GitHub], sleeps: list[float]
) -> None:
    standin.add_pull(7)
    standin.inject("POST", COMMENTS[1], 502, times=2)
    gh = client()

    comment = gh.create_issue_comment(7, "dashboard")

    assert [c.body for c in standin.comments(7)] == ["dashboard"]
    assert comment.id == standin.comments(7)[0].id
    assert gh.retries == {COMMENTS: 2}
    assert gh.requests[COMMENTS] == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_a_502_after_the_write_finds_the_comment_instead_of_posting_again(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    """Real GitHub can create the comment and still answer 502."""
    standin.add_pull(7)
    standin.inject("POST", COMMENTS[1], 502, after_write=True)
    gh = client()

    comment = gh.create_issue_comment(7, "dashboard")

    assert [c.id for c in standin.comments(7)] == [comment.id]
    assert gh.requests[COMMENTS] == 1
    assert gh.requests[LIST_COMMENTS] == 1  # the look before posting again


def test_server_errors_give_up_after_the_attempts(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    standin.add_pull(7)
    standin.inject("GET", GET_PULL[1], 503, times=10)
    gh = client(max_attempts=3)

    with pytest.raises(InfraError, match="503") as raised:
        gh.get_pull(7)
    assert "3 attempts" in raised.value.message
    assert "githubstatus" in raised.value.hint
    assert gh.requests[GET_PULL] == 3


def test_a_permission_error_is_not_retried(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    standin.add_pull(7)
    message = {"message": "Resource not accessible by integration"}
    standin.inject("POST", COMMENTS[1], 403, body=message)
    gh = client()

    with pytest.raises(InfraError, match="Resource not accessible") as raised:
        gh.create_issue_comment(7, "hello")
    assert "permissions" in raised.value.hint
    assert gh.requests[COMMENTS] == 1 and not gh.retries


def test_comment_edit_and_reaction(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    standin.add_pull(7)
    command = standin.add_comment(7, "/plan", user="alice")
    gh = client()

    gh.add_reaction(command.id, "eyes")
    gh.add_reaction(command.id, "eyes")  # GitHub keeps one per user and content
    posted = gh.create_issue_comment(7, "⏳ planning")
    edited = gh.update_issue_comment(posted.id, "✅ planned")

    assert standin.reactions(command.id) == ["eyes"]
    assert gh.get_issue_comment(posted.id).body == "✅ planned" == edited.body
    alice = gh.get_issue_comment(command.id)
    assert (alice.user, alice.user_type, alice.is_bot) == ("alice", "User", False)
    assert posted.is_bot


def test_minimize_is_best_effort(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    standin.add_pull(7)
    old = standin.add_comment(7, "old dashboard")
    gh = client(max_attempts=2)

    standin.inject("POST", "/graphql", 500, times=5)
    assert gh.minimize_comment(old.node_id) is False  # GitHub failing: no exception
    assert gh.minimize_comment("IC_no_such_node") is False  # GraphQL error: no exception
    assert not standin.comments(7)[0].minimized
    assert gh.minimize_comment(old.node_id, "RESOLVED") is True
    assert standin.comments(7)[0].minimized_reason == "RESOLVED"


def test_unminimize_unfolds_and_is_best_effort(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    standin.add_pull(7)
    old = standin.add_comment(7, "a dashboard current again")
    gh = client(max_attempts=2)
    assert gh.minimize_comment(old.node_id) is True

    assert gh.unminimize_comment("IC_no_such_node") is False  # GraphQL error: no exception
    assert standin.comments(7)[0].minimized
    assert gh.unminimize_comment(old.node_id) is True
    assert not standin.comments(7)[0].minimized
    standin.inject("POST", "/graphql", 500, times=5)
    assert gh.unminimize_comment(old.node_id) is False  # GitHub failing: no exception


# -- rate limits ----------------------------------------------------------------------------------


def test_a_secondary_rate_limit_is_waited_out(
    standin: GitHubStandIn, client: Callable[..., GitHub], sleeps: list[float]
) -> None:
    standin.add_pull(7)
    standin.secondary_rate_limit("POST", COMMENTS[1], retry_after=3)
    standin.secondary_rate_limit("GET", "*", retry_after=1, status=429)
    gh = client()

    gh.create_issue_comment(7, "after the limit")
    gh.get_pull(7)

    assert sleeps == [3.0, 1.0]
    assert gh.rate_limit_waited == 4.0
    assert len(standin.comments(7)) == 1
    assert gh.retries == {COMMENTS: 1, GET_PULL: 1}


def test_a_primary_rate_limit_waits_until_the_reset(
    standin: GitHubStandIn, client: Callable[..., GitHub], sleeps: list[float]
) -> None:
    standin.add_pull(7)
    standin.primary_rate_limit("GET", "*", reset_in=2)
    gh = client()

    assert gh.get_pull(7).number == 7
    [slept] = sleeps
    assert 1.0 <= slept <= 3.0


def test_a_rate_limit_beyond_the_budget_fails_with_a_clear_error(
    standin: GitHubStandIn, client: Callable[..., GitHub], sleeps: list[float]
) -> None:
    standin.add_pull(7)
    standin.secondary_rate_limit("GET", "*", retry_after=1, times=100)
    gh = client(max_rate_limit_wait=3)

    with pytest.raises(InfraError, match="rate limit") as raised:
        gh.get_pull(7)

    assert sleeps == [1.0, 1.0, 1.0]  # the budget, then no more
    assert "3s this run may spend waiting" in raised.value.message
    assert "Re-run after" in raised.value.hint

    standin.clear_faults()
    standin.primary_rate_limit("GET", "*", reset_in=3600)
    sleeps.clear()
    with pytest.raises(InfraError, match="rate limit"):
        client().get_pull(7)  # an hour away: fail at once rather than sleep
    assert sleeps == []


# -- permissions, refs, commits -------------------------------------------------------------------


def test_permission_roles(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    standin.set_permission("alice", "maintain")
    standin.set_permission("bob", "read")
    standin.set_permission("carol", "security-reviewer")  # a custom repository role
    gh = client()

    assert gh.get_permission("alice") == "maintain"
    assert gh.get_permission("bob") == "read"
    assert gh.get_permission("carol") == "security-reviewer"
    assert gh.get_permission("nobody") == "none"  # GitHub answers 404


def test_refs_work_as_locks(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    pull = standin.add_pull(7)
    gh = client()
    lock = "refs/heads/infra-lock/platform"

    assert gh.create_ref(lock, pull.head_sha) is True
    assert gh.create_ref(lock, pull.base_sha) is False  # 422 Reference already exists
    assert gh.get_ref(lock) == gh.get_ref("heads/infra-lock/platform") == pull.head_sha
    assert gh.list_matching_refs("refs/heads/infra-lock/") == [(lock, pull.head_sha)]
    assert gh.delete_ref(lock) is True
    assert gh.delete_ref(lock) is False
    assert gh.get_ref(lock) is None
    assert gh.list_matching_refs("heads/infra-lock/") == []


def test_a_ref_created_before_a_502_counts_as_created(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    pull = standin.add_pull(7)
    standin.inject("POST", "/repos/{owner}/{repo}/git/refs", 502, after_write=True)
    gh = client()

    assert gh.create_ref("refs/heads/infra-lock/data", pull.head_sha) is True
    assert standin.refs["refs/heads/infra-lock/data"] == pull.head_sha


def test_lock_metadata_commits(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    pull = standin.add_pull(7)
    gh = client()

    tree = gh.get_commit_tree(pull.head_sha)
    sha = gh.create_commit('{"holder": "run 42"}', tree, [pull.head_sha])

    assert gh.get_commit_message(sha) == '{"holder": "run 42"}'
    assert gh.get_commit_tree(sha) == tree


# -- statuses, deployments, issues, runs ----------------------------------------------------------


def test_statuses_truncate_long_descriptions(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    pull = standin.add_pull(7)
    gh = client()

    gh.create_status(pull.head_sha, "infra/plan", "pending", "planning " * 40, "https://ci/1")
    gh.create_status(pull.head_sha, "infra/plan", "success", "no changes")

    latest = standin.latest_statuses(pull.head_sha)["infra/plan"]
    assert (latest.state, latest.description) == ("success", "no changes")
    first, second = gh.list_statuses(pull.head_sha)[::-1]
    assert len(first.description or "") == 140 and (first.description or "").endswith("…")
    assert (second.state, second.target_url) == ("success", None)


def test_deployments(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    pull = standin.add_pull(7)
    gh = client()

    deployment = gh.create_deployment("main", "production", "apply platform", {"layer": "x"})
    gh.create_deployment_status(deployment, "success", "https://ci/run/1", "applied")

    [listed] = gh.list_deployments("production")
    assert (listed.id, listed.sha, listed.payload) == (deployment, pull.base_sha, {"layer": "x"})
    assert gh.list_deployments("staging") == []
    [recorded] = standin.deployments
    assert recorded.required_contexts == [] and recorded.auto_merge is False
    assert [s.state for s in recorded.statuses] == ["success"]


def test_drift_issues(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    standin.add_pull(1)  # listed by GitHub's issues endpoint too; the client skips it
    standin.add_issue("Unrelated", labels=["bug"])
    gh = client()

    created = gh.create_issue("Drift: platform", "3 resources changed", ["infra-drift"])
    assert [i.number for i in gh.list_issues(["infra-drift"])] == [created.number]
    assert {i.title for i in gh.list_issues([])} == {"Drift: platform", "Unrelated"}

    closed = gh.update_issue(created.number, state="closed", body="resolved")
    assert (closed.state, closed.body, closed.labels) == ("closed", "resolved", ("infra-drift",))
    assert gh.list_issues(["infra-drift"], state="open") == []


def test_workflow_runs(standin: GitHubStandIn, client: Callable[..., GitHub]) -> None:
    standin.add_workflow_run(99, "completed", "success")
    gh = client()

    run = gh.get_workflow_run(99)
    assert run is not None and (run.status, run.conclusion) == ("completed", "success")
    assert gh.get_workflow_run(100) is None


# -- counting -------------------------------------------------------------------------------------


def test_client_counts_match_what_the_server_saw(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    pull = standin.add_pull(7, files=[f"f{i}.tf" for i in range(120)])
    standin.inject("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", 500)
    gh = client()

    gh.get_pull(7)
    gh.list_pull_files(7)
    gh.create_status(pull.head_sha, "infra/ci", "success", "ok")
    gh.create_ref("refs/heads/infra-lock/x", pull.head_sha)
    gh.create_ref("refs/heads/infra-lock/x", pull.head_sha)

    assert gh.requests == standin.request_counts()
    assert gh.requests[("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files")] == 3
    assert gh.retries == {("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"): 1}
    assert gh.requests[("POST", "/repos/{owner}/{repo}/git/refs")] == 2


def test_an_unreachable_github_is_reported(client: Callable[..., GitHub]) -> None:
    # A port nothing listens on, kept bound (without `listen`) so that no parallel test's
    # server can take it meanwhile: connecting is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        gh = client(api_url=f"http://127.0.0.1:{port}", max_attempts=2)
        with pytest.raises(InfraError, match="Could not reach GitHub") as raised:
            gh.get_pull(1)
    assert "GITHUB_API_URL" in raised.value.hint
    assert gh.requests[GET_PULL] == 2


# -- repository contents --------------------------------------------------------------------------


def test_get_file_reads_a_file_at_a_commit(
    standin: GitHubStandIn, client: Callable[..., GitHub]
) -> None:
    base, head = "a" * 40, "b" * 40
    standin.set_file("infra/infra.yaml", "version: 1 # base ✓\n" * 20, ref=base)
    standin.set_file("infra/infra.yaml", "version: 1 # head\n", ref=head)
    gh = client()

    assert gh.get_file("infra/infra.yaml", base) == "version: 1 # base ✓\n" * 20
    assert gh.get_file("infra/infra.yaml", head) == "version: 1 # head\n"
    assert gh.get_file("infra/missing.yaml", base) is None
    assert gh.get_file("infra", base) is None  # a directory is not a file
    assert gh.requests[("GET", "/repos/{owner}/{repo}/contents/{path}")] == 4


def test_team_members_are_read_or_the_team_is_unreadable(
    standin: GitHubStandIn, client: Callable[..., GitHub], sleeps: list[float]
) -> None:
    standin.set_team("acme/dba", [f"user{i}" for i in range(130)])  # two pages
    gh = client()
    route = ("GET", "/orgs/{org}/teams/{team_slug}/members")

    assert gh.list_team_members("acme", "dba") == [f"user{i}" for i in range(130)]
    assert gh.requests[route] == 2
    # A secret team, or one that does not exist: GitHub answers 404 to both.
    assert gh.list_team_members("acme", "secret") is None
    # The workflow's GITHUB_TOKEN may not read organization members at all.
    standin.inject("GET", route[1], 403, body={"message": "Resource not accessible by integration"})
    assert gh.list_team_members("acme", "dba") is None
    # A secondary rate limit is a 403 too, but it means "wait": it is retried.
    standin.secondary_rate_limit("GET", route[1])
    assert len(gh.list_team_members("acme", "dba") or []) == 130
    assert sleeps == [1.0]  # its Retry-After
