"""The stand-in is only useful if it is GitHub-shaped: it serves GitHub's routes, refuses what
GitHub refuses, and the webhook payloads are the ones GitHub sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra_pipeline.adapters.github.client import ROUTES
from standin import GitHubStandIn, make_event
from standin.routes import HANDLERS
from standin.spec import SPEC_PATH, load_spec

WEBHOOKS = Path(__file__).parent / "data" / "webhooks"
HEADERS = {"Authorization": "token ghs_test", "X-GitHub-Api-Version": "2022-11-28"}


@pytest.fixture
def raw() -> Iterator[tuple[GitHubStandIn, httpx.Client]]:
    """A stand-in and a bare HTTP client, for requests the real client would never send.
    (Not the `standin` fixture: these tests make violations on purpose.)"""
    with GitHubStandIn() as server, httpx.Client(base_url=server.url, headers=HEADERS) as http:
        server.add_pull(7, files=[f"f{i}.tf" for i in range(5)])
        yield server, http


# -- the vendored description ---------------------------------------------------------------------


def test_every_route_the_standin_serves_is_in_githubs_description() -> None:
    spec = load_spec()
    described = {op.operation_id for op in spec.operations}
    assert set(HANDLERS) == described


def test_every_route_the_client_calls_is_in_githubs_description() -> None:
    document = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    rest = [(m, t) for m, t in ROUTES if t != "/graphql"]
    missing = [(m, t) for m, t in rest if m.lower() not in document["paths"].get(t, {})]
    assert missing == []
    assert len(rest) == sum(len(methods) for methods in document["paths"].values())


def test_the_vendored_description_is_small_and_says_where_it_came_from() -> None:
    assert SPEC_PATH.stat().st_size < 1_000_000
    document = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    assert "@octokit/openapi@23.0.2" in document["info"]["source"]


# -- requests GitHub would refuse -----------------------------------------------------------------


def test_an_invalid_body_is_refused_and_recorded(
    raw: tuple[GitHubStandIn, httpx.Client],
) -> None:
    server, http = raw

    answer = http.post("/repos/acme/infra/issues/7/comments", json={"bdy": "typo"})

    assert answer.status_code == 422
    assert server.comments(7) == []
    assert server.violations == [
        "POST /repos/acme/infra/issues/7/comments: request body at (root): "
        "'body' is a required property"
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "problem"),
    [
        ("GET", "/repos/acme/infra/pulls/7/commits", None, 404, "no such path"),
        ("DELETE", "/repos/acme/infra/pulls/7", None, 404, "only GET exist"),
        ("GET", "/repos/acme/infra/pulls/seven", None, 404, "no such path"),
        ("GET", "/repos/acme/infra/pulls/7/files?page=two", None, 422, "not an integer"),
        ("GET", "/repos/acme/infra/issues/7/comments?sort=asc", None, 422, "'sort'"),
        ("POST", "/repos/acme/infra/statuses/abc", {"state": "done"}, 422, "'done' is not one"),
        ("POST", "/repos/acme/infra/git/refs", {"ref": "refs/heads/x"}, 422, "'sha' is a req"),
        ("POST", "/graphql", {"query": "query { viewer { login } }"}, 200, "unsupported Graph"),
    ],
)
def test_requests_github_would_refuse_are_violations(
    raw: tuple[GitHubStandIn, httpx.Client],
    method: str,
    path: str,
    body: Any,
    status: int,
    problem: str,
) -> None:
    server, http = raw

    answer = http.request(method, path, json=body)

    assert answer.status_code == status
    [violation] = server.violations
    assert problem in violation


def test_missing_token_and_unknown_api_version_are_violations(
    raw: tuple[GitHubStandIn, httpx.Client],
) -> None:
    server, http = raw

    assert httpx.get(server.url + "/repos/acme/infra/pulls/7").status_code == 401
    version = {"X-GitHub-Api-Version": "2099-01-01"}
    assert http.get("/repos/acme/infra/pulls/7", headers=version).status_code == 400
    assert [v.split(": ", 1)[1] for v in server.violations] == [
        "no token: GitHub answers 401",
        "X-GitHub-Api-Version 2099-01-01 is not a supported API version",
    ]


def test_the_standin_checks_its_own_answers_against_githubs_schemas() -> None:
    spec = load_spec()
    get_pull = spec.operation("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")

    problems = spec.check_response(get_pull, 200, {"number": "seven"})

    assert any("'head' is a required property" in p for p in problems)
    assert spec.check_response(get_pull, 201, {}) == [
        "GitHub never answers GET /repos/{owner}/{repo}/pulls/{pull_number} with 201"
    ]


def test_pagination_is_githubs(raw: tuple[GitHubStandIn, httpx.Client]) -> None:
    server, http = raw

    first = http.get("/repos/acme/infra/pulls/7/files", params={"per_page": 2})
    last = http.get("/repos/acme/infra/pulls/7/files", params={"per_page": 2, "page": 3})

    assert [f["filename"] for f in first.json()] == ["f0.tf", "f1.tf"]
    assert first.links["next"]["url"].endswith("per_page=2&page=2")
    assert first.links["last"]["url"].endswith("per_page=2&page=3")
    assert [f["filename"] for f in last.json()] == ["f4.tf"]
    assert "next" not in last.links and last.links["prev"]["url"].endswith("page=2")
    assert server.violations == []


def test_status_codes_are_githubs(raw: tuple[GitHubStandIn, httpx.Client]) -> None:
    server, http = raw
    sha = server.pulls[7].head_sha
    ref = {"ref": "refs/heads/infra-lock/x", "sha": sha}

    assert http.post("/repos/acme/infra/git/refs", json=ref).status_code == 201
    again = http.post("/repos/acme/infra/git/refs", json=ref)
    assert (again.status_code, again.json()["message"]) == (422, "Reference already exists")
    assert http.delete("/repos/acme/infra/git/refs/heads/infra-lock/x").status_code == 204
    assert http.delete("/repos/acme/infra/git/refs/heads/infra-lock/x").status_code == 422
    assert http.get("/repos/acme/infra/git/ref/heads/infra-lock/x").status_code == 404
    assert http.get("/repos/other/repo/pulls/7").status_code == 404
    comment = http.post("/repos/acme/infra/issues/7/comments", json={"body": "hi"})
    assert comment.status_code == 201 and comment.headers["Location"] == comment.json()["url"]
    assert server.violations == []


# -- webhook payloads -----------------------------------------------------------------------------

READ_BY_THE_PRODUCT = {
    "pull_request": [
        "action",
        "number",
        "pull_request.head.sha",
        "pull_request.head.ref",
        "pull_request.head.repo.full_name",
        "pull_request.base.sha",
        "pull_request.base.ref",
        "pull_request.base.repo.full_name",
        "pull_request.user.login",
        "pull_request.draft",
        "pull_request.merged",
    ],
    "issue_comment": [
        "action",
        "issue.number",
        "comment.id",
        "comment.node_id",
        "comment.body",
        "comment.user.login",
        "comment.user.type",
    ],
    "push": ["ref", "before", "after", "head_commit.id"],
    "workflow_dispatch": ["ref", "inputs", "workflow"],
    "schedule": ["schedule", "workflow"],
    "merge_group": ["merge_group.head_sha", "merge_group.base_sha", "merge_group.head_ref"],
}


def _get(payload: dict[str, Any], dotted: str) -> Any:
    node: Any = payload
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted} missing"
        node = node[part]
    return node


@pytest.mark.parametrize("path", sorted(WEBHOOKS.glob("*.json")), ids=lambda p: p.stem)
def test_webhook_payloads_have_what_the_product_reads(path: Path) -> None:
    payload = json.loads(path.read_text(encoding="utf-8"))
    event = path.name.split(".")[0]

    for dotted in [*READ_BY_THE_PRODUCT[event], "repository.full_name", "sender.login"]:
        _get(payload, dotted)
    if path.name == "issue_comment.created.pull_request.json":
        assert _get(payload, "issue.pull_request.url").endswith("/pulls/1")


def test_the_expected_webhooks_are_vendored() -> None:
    assert {p.name for p in WEBHOOKS.glob("*.json")} == {
        "pull_request.opened.json",
        "pull_request.synchronize.json",
        "pull_request.reopened.json",
        "pull_request.closed.json",
        "pull_request.ready_for_review.json",
        "issue_comment.created.json",
        "issue_comment.created.pull_request.json",
        "push.json",
        "workflow_dispatch.json",
        "schedule.json",
        "merge_group.checks_requested.json",
    }


def test_make_event_sets_what_the_product_reads() -> None:
    comment = make_event("issue_comment", "created", number=7, body="/plan", user="alice")
    assert (comment["issue"]["number"], comment["comment"]["body"]) == (7, "/plan")
    assert comment["comment"]["user"]["login"] == comment["sender"]["login"] == "alice"
    assert comment["issue"]["pull_request"]["url"].endswith("/repos/acme/infra/pulls/7")
    assert "Codertocat/Hello-World" not in json.dumps(comment)
    assert comment["repository"]["full_name"] == "acme/infra"

    plain = make_event("issue_comment", "created", on_pull_request=False)
    assert "pull_request" not in plain["issue"]

    bot = make_event("issue_comment", "created", user="infra[bot]", user_type="Bot")
    assert bot["comment"]["user"]["type"] == "Bot"


def test_make_event_pull_requests_and_pushes() -> None:
    pull = make_event(
        "pull_request", "synchronize", number=9, head_sha="a" * 40, author="mallory", fork=True
    )
    pr = pull["pull_request"]
    assert (pull["number"], pr["number"], pr["head"]["sha"]) == (9, 9, "a" * 40)
    assert pr["head"]["repo"]["full_name"] == "mallory/infra"
    assert pr["base"]["repo"]["full_name"] == "acme/infra"
    assert pull["sender"]["login"] == "mallory"

    merged = make_event("pull_request", "closed", merged=True)
    assert (merged["pull_request"]["merged"], merged["pull_request"]["state"]) == (True, "closed")

    push = make_event("push", after="b" * 40, repo="acme/other")
    assert (push["ref"], push["after"], push["head_commit"]["id"]) == (
        "refs/heads/main",
        "b" * 40,
        "b" * 40,
    )
    assert push["repository"]["full_name"] == "acme/other"

    dispatch = make_event("workflow_dispatch", inputs={"layer": "platform"})
    assert dispatch["inputs"] == {"layer": "platform"}
    assert make_event("schedule", schedule="0 6 * * 1")["schedule"] == "0 6 * * 1"

    extra = make_event("pull_request", "opened", extra={"pull_request.labels": []})
    assert extra["pull_request"]["labels"] == []


def test_make_event_refuses_an_unknown_event() -> None:
    with pytest.raises(FileNotFoundError, match=r"pull_request\.opened"):
        make_event("pull_request", "exploded")
