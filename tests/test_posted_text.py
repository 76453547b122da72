"""Everything a job posts is redacted and fits GitHub's limits: stories against the stand-in
through `infra event`, and the GitHub client and stand-in at the limit itself."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.core.dashboard.steps import Stage, Status, parse
from prstory import Repo, dashboard_body, make_repo, replies
from standin import GitHubStandIn

PAT = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2  # the shape of a personal access token
JOB_TOKEN = "ghs_standin_token"  # the job's GITHUB_TOKEN in `gh_env`

LEAKY = f"""
import base64, os, pathlib
report = pathlib.Path("reports/leaky.xml")
report.parent.mkdir(exist_ok=True)
token = os.environ["GITHUB_TOKEN"]
# The token as tools quote it: in Basic auth, and wrapped over two lines.
basic = base64.b64encode(("x-access-token:" + token).encode()).decode()
message = (
    "login failed with {PAT} and " + token + "; sent Basic " + basic
    + " and " + token[:9] + "\\n    " + token[9:]
)
report.write_text(
    "<testsuite><testcase classname='api' name='login'>"
    f"<failure message='{{message}}'>{{message}}</failure></testcase></testsuite>"
)
print(message)
raise SystemExit(1)
"""

CHATTY = """
print("x" * 100_000)
print("all 3 checks passed")
"""


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    repo = make_repo(tmp_path, standin, gh_env)
    (repo.root / "e2e" / "leaky.py").write_text(LEAKY)
    (repo.root / "e2e" / "chatty.py").write_text(CHATTY)
    head = repo.commit(
        "infra.yaml",
        "e2e:\n",
        "e2e:\n"
        "  leaky: {command: [python, leaky.py], cwd: e2e, junit: reports/leaky.xml}\n"
        "  chatty: {command: [python, chatty.py], cwd: e2e}\n",
        "two more suites",
    )
    repo.open_pr(7, head, ["infra.yaml", "e2e/leaky.py", "e2e/chatty.py"])
    return repo


def test_a_junit_failure_quoting_tokens_is_posted_redacted(
    repo: Repo, standin: GitHubStandIn
) -> None:
    result, _ = repo.comment(7, "/e2e leaky", "alice")

    assert result.code == 1  # the suite failed, and says so
    reply = replies(standin, 7)[-1]
    assert "api.login" in reply and "login failed with ***" in reply
    everything = "\n".join(c.body for c in standin.comments(7))
    assert PAT not in everything and JOB_TOKEN not in everything
    basic = base64.b64encode(f"x-access-token:{JOB_TOKEN}".encode()).decode()
    assert basic[8:-4] not in everything  # the token's own base64 characters
    assert "ghs_stand" not in everything  # the wrapped one
    e2e = parse(dashboard_body(standin, 7, standin.pulls[7].head_sha)).row(Stage.E2E)
    assert e2e is not None and e2e.status is Status.FAILED


def test_a_huge_e2e_output_is_posted_cut_and_the_row_tells_the_truth(
    repo: Repo, standin: GitHubStandIn
) -> None:
    result, _ = repo.comment(7, "/e2e chatty", "alice")

    assert result.code == 0, result.out[-2000:] + result.err[-2000:]
    reply = replies(standin, 7)[-1]
    assert len(reply) <= 65_536
    assert "✂️ Cut:" in reply and "the full output is in the job summary and log" in reply
    assert reply.index("E2E: ✅") < reply.index("✂️ Cut:")  # the verdict is kept
    e2e = parse(dashboard_body(standin, 7, standin.pulls[7].head_sha)).row(Stage.E2E)
    assert e2e is not None and e2e.status is Status.OK


def test_the_standin_refuses_a_body_over_the_limit_as_github_does(
    standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    standin.add_pull(3, head_sha="a" * 40, base_sha="b" * 40)
    url = f"{standin.api_url}/repos/{gh_env['GITHUB_REPOSITORY']}/issues/3/comments"
    headers = {"Authorization": f"Bearer {JOB_TOKEN}"}
    refused = httpx.post(url, json={"body": "x" * 65_537}, headers=headers)
    assert refused.status_code == 422
    assert "too long" in refused.text
    # An emoji outside the BMP counts twice, as GitHub counts UTF-16 code units.
    assert httpx.post(url, json={"body": "🚀" * 32_769}, headers=headers).status_code == 422
    assert httpx.post(url, json={"body": "x" * 65_536}, headers=headers).status_code == 201


def test_the_client_cannot_post_a_secret_or_an_oversized_text(
    standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    standin.add_pull(3, head_sha="a" * 40, base_sha="b" * 40)
    env = {**gh_env, "DB_PASSWORD": "s3cr3t-deploy-value"}
    with GitHub.from_env(env) as gh:
        body = f"token {JOB_TOKEN}, key s3cr3t-deploy-value, pat {PAT}\n" + "y" * 80_000
        comment = gh.create_issue_comment(3, body)
        gh.create_status(
            "a" * 40,
            "infra/plan",
            "failure",
            "plan failed: " + "z" * 300,
            f"https://ci.example/run?token={JOB_TOKEN}",  # a link is a way out too
        )
        deployment = gh.create_deployment("a" * 40, "platform", "x", {"note": f"by {PAT}"})
        gh.create_deployment_status(deployment, "success", f"https://x:{PAT}@ci.example/", "ok")
        issue = gh.create_issue("drift " + "t" * 400, f"saw {PAT}", ["infra-drift"])
    stored = standin.comments(3)[0].body
    assert stored == comment.body
    for secret in (JOB_TOKEN, "s3cr3t-deploy-value", PAT):
        assert secret not in stored and secret not in issue.body
    assert len(stored) <= 65_536 and "✂️ Cut:" in stored
    status = standin.latest_statuses("a" * 40)["infra/plan"]
    assert status.description is not None and len(status.description) == 140
    assert status.description.endswith("…")
    assert status.target_url is not None and JOB_TOKEN not in status.target_url
    (recorded,) = standin.deployments
    assert PAT not in str(recorded.payload)
    assert all(PAT not in (s.log_url or "") for s in recorded.statuses)
    assert len(issue.title) <= 256
