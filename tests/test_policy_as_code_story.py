"""Policy as code on the plan (issue 16, point 1), told as pull request stories with real
Terraform, a real git checkout and the GitHub stand-in: the example's Rego policy, which
denies destroying a database and warns when one is resized, read from the default branch."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from homelab import EXAMPLE, infra, state_resources
from infra_pipeline.core.dashboard.render import parse, render
from infra_pipeline.core.dashboard.steps import approve_policies
from infra_pipeline.core.policy_check import PolicyResult
from infra_pipeline.flows.matrix import UNCHECKED
from prstory import Repo, dashboard_body, git, make_repo, replies
from standin import GitHubStandIn
from test_matrix import MatrixRun

POLICY = "policy/database.rego"
PROD_FILE = "envs/prod/data/main.tf"
STAGING_FILE = "envs/staging/data/main.tf"
DESTROYED = (
    "module.postgres.terraform_data.deployment would be destroyed: a database's data goes with it"
)


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "admin")
    standin.set_permission("bob", "write")
    repo = make_repo(tmp_path, standin, gh_env, engine="terraform")
    git(repo.root, "checkout", "-q", "main")
    # The databases exist: applied from main before the pull request.
    applied = infra(repo.root, "apply", "data-staging", "data-prod", "--auto-approve")
    assert applied.code == 0, applied.out
    config = repo.root / "infra.yaml"
    config.write_text(config.read_text() + "policies: {paths: [policy/]}\n")
    git(repo.root, "commit", "-qam", "check every plan against policy/")
    base = git(repo.root, "rev-parse", "HEAD")
    standin.add_commit(base)
    standin.set_ref("refs/heads/main", base)
    for path in ("infra.yaml", POLICY):
        standin.set_file(path, (repo.root / path).read_text(), ref=base)
    git(repo.root, "checkout", "-qB", "change")
    repo.base = base
    return repo


def drop_prod_database(repo: Repo, number: int = 7, *, single_job: bool = True) -> str:
    """A pull request that deletes the prod postgres module (and so the database), planned by
    the single job unless `single_job` is false."""
    path = repo.root / PROD_FILE
    text = path.read_text()
    start = text.index('module "postgres"')
    path.write_text(text[:start])
    git(repo.root, "commit", "-qam", "retire the prod database")
    head = git(repo.root, "rev-parse", "HEAD")
    repo.open_pr(number, head, [PROD_FILE])
    if single_job:
        opened = repo.pr_event(number)
        assert opened.code == 0, opened.out + opened.err
    return head


def shown_policy(board: str, layer: str) -> PolicyResult | None:
    return parse(board).layer(layer).policy


def escaped(message: str) -> str:
    return message.replace("_", "\\_")


def policy_row(board: str) -> str:
    return next(line for line in board.splitlines() if line.startswith("| Policy |"))


def prod_database(repo: Repo) -> bool:
    return "module.postgres.terraform_data.deployment" in state_resources(repo.root, "data-prod")


def test_destroying_a_database_waits_for_an_admins_approval_of_that_commit(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = drop_prod_database(repo)
    board = dashboard_body(standin, 7, head)
    assert "| Plan: data-prod | ⚠️ |" in board
    assert policy_row(board) == (
        "| Policy | ❌ | 1 failure in data-prod: needs /approve\\_policies | - |"
    )
    assert shown_policy(board, "data-prod") == PolicyResult("data-prod", (DESTROYED,))
    assert f"- ❌ `data-prod`: {escaped(DESTROYED)}" in board
    assert "comments `/approve_policies`; then `/apply`" in board  # the next step says so

    refused, _ = repo.comment(7, "/apply", "alice")
    assert refused.code == 1
    reply = replies(standin, 7)[-1]
    assert "The policy check failed on this commit" in reply and DESTROYED in reply
    assert prod_database(repo)

    by_writer, writer_comment = repo.comment(7, "/approve_policies", "bob")
    assert by_writer.code == 1
    assert (
        "@bob needs the `maintain` role on this repository to run `/approve_policies`"
        in (replies(standin, 7)[-1])
    )
    assert standin.reactions(writer_comment) == ["eyes", "confused"]
    assert policy_row(dashboard_body(standin, 7, head)).startswith("| Policy | ❌ |")

    # The writer rewrites the dashboard (a comment they can edit) to record an admin's
    # approval pointing at their own comment: /apply re-reads it and refuses.
    board_comment = next(
        c for c in standin.comments(7) if c.body.startswith(f"<!-- infra-dashboard:{head[:7]}")
    )
    board_comment.body = render(
        approve_policies(parse(board_comment.body), "alice", "admin", writer_comment)
    )
    forged, _ = repo.comment(7, "/apply", "alice")
    assert forged.code == 1
    assert (
        "The policy approval on the dashboard cannot be verified (its comment is by @bob, "
        "not @alice)" in replies(standin, 7)[-1]
    )
    assert prod_database(repo)

    approved, approving_comment = repo.comment(7, "atlantis approve_policies", "alice")
    assert approved.code == 0, approved.out + approved.err
    assert "@alice (`admin`) approved the policy failures of" in replies(standin, 7)[-1]
    audit = [
        json.loads(line.removeprefix("infra-audit "))
        for line in approved.out.splitlines()
        if line.startswith("infra-audit ")
    ]
    assert audit[-1]["command"] == "approve_policies" and audit[-1]["who"] == "alice"
    assert audit[-1]["layers"] == ["data-prod"] and DESTROYED in audit[-1]["result"]
    assert audit[-1]["head_sha"] == head
    board = dashboard_body(standin, 7, head)
    assert policy_row(board).startswith("| Policy | ✅ | 1 failure in data-prod approved by @alice")

    # A new push is a new commit: the approval of the old one does not carry over.
    (repo.root / "README.md").write_text("retiring prod's database\n")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "say why")
    newer = git(repo.root, "rev-parse", "HEAD")
    repo.push(7, newer, [PROD_FILE, "README.md"])
    pushed = repo.event("pull_request", repo.pr_payload(7, "synchronize"))
    assert pushed.code == 0, pushed.out + pushed.err
    assert policy_row(dashboard_body(standin, 7, newer)).startswith("| Policy | ❌ |")
    again, _ = repo.comment(7, "/apply", "alice")
    assert again.code == 1
    assert "The policy check failed on this commit" in replies(standin, 7)[-1]
    assert prod_database(repo)

    # The writer points the new commit's dashboard at the approval of the old commit (written
    # an hour ago, say): it is older than this commit's dashboard, so it approved another one.
    old = next(c for c in standin.comments(7) if c.id == approving_comment)
    old.created_at = old.updated_at = old.created_at - timedelta(hours=1)
    newer_board = next(
        c for c in standin.comments(7) if c.body.startswith(f"<!-- infra-dashboard:{newer[:7]}")
    )
    newer_board.body = render(
        approve_policies(parse(newer_board.body), "alice", "admin", approving_comment)
    )
    replayed, _ = repo.comment(7, "/apply", "alice")
    assert replayed.code == 1
    assert "approved an earlier commit" in replies(standin, 7)[-1]
    assert prod_database(repo)

    reapproved, _ = repo.comment(7, "/approve_policies", "alice")
    assert reapproved.code == 0, reapproved.out + reapproved.err
    applied, _ = repo.comment(7, "/apply", "alice")
    assert applied.code == 0, applied.out + applied.err
    assert not prod_database(repo)


CONTENTS = ("GET", "/repos/{owner}/{repo}/contents/{path}")


@pytest.mark.parametrize("read_from", ["checkout", "api"])
def test_a_policy_weakened_in_the_pull_request_is_not_the_one_used(
    repo: Repo, standin: GitHubStandIn, read_from: str
) -> None:
    """main's Rego files, byte for byte: from git's object store when the checkout has main's
    tip (no request), else (`api`: the checkout's main is elsewhere, as in a shallow clone)
    through the contents API."""
    # The pull request deletes the rule that would stop it, and the policies key too.
    (repo.root / POLICY).write_text("package main\n")
    config = repo.root / "infra.yaml"
    config.write_text(config.read_text().replace("policies: {paths: [policy/]}\n", ""))
    git(repo.root, "commit", "-qam", "relax the policy")
    if read_from == "api":
        git(repo.root, "branch", "-f", "main", f"{repo.base}~1")
    before = standin.request_counts()
    head = drop_prod_database(repo)

    asked = standin.request_counts() - before
    # infra.yaml, then the policy directory's listing and its one file
    assert asked[CONTENTS] == (0 if read_from == "checkout" else 3)
    board = dashboard_body(standin, 7, head)
    # main's policy and main's settings
    assert shown_policy(board, "data-prod") == PolicyResult("data-prod", (DESTROYED,))
    result, _ = repo.comment(7, "/apply", "alice")
    assert result.code == 1
    assert "The policy check failed on this commit" in replies(standin, 7)[-1]
    assert prod_database(repo)


def test_a_warning_shows_on_the_dashboard_and_blocks_nothing(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.open_pr(7, head, [STAGING_FILE])
    opened = repo.pr_event(7)
    assert opened.code == 0, opened.out + opened.err

    board = dashboard_body(standin, 7, head)
    assert policy_row(board) == "| Policy | ✅ | passed on 1 layer, 1 warning | - |"
    warning = "module.postgres.terraform_data.deployment is resized from small to medium"
    assert shown_policy(board, "data-staging") == PolicyResult("data-staging", (), (warning,))
    assert f"- ⚠️ `data-staging`: {escaped(warning)}" in board
    assert f"policy WARN data-staging: {warning}" in opened.out  # the job log has them all

    applied, _ = repo.comment(7, "/apply", "alice")
    assert applied.code == 0, applied.out + applied.err
    assert "`/apply` of `data-staging`: applied" in replies(standin, 7)[-1]


def test_the_scale_out_workflow_checks_each_plan_in_its_plan_job(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = drop_prod_database(repo, single_job=False)
    run = MatrixRun(repo, 7)
    [planned] = run.plan("data-prod")
    assert planned.code == 0, planned.out + planned.err
    assert f"policy FAIL data-prod: {DESTROYED}" in planned.out  # the job log has them all
    refreshed = run.refresh()
    assert refreshed.code == 0, refreshed.out + refreshed.err
    board = dashboard_body(standin, 7, head)
    assert shown_policy(board, "data-prod") == PolicyResult("data-prod", (DESTROYED,))
    assert policy_row(board).startswith("| Policy | ❌ |")
    result, _ = repo.comment(7, "/apply", "alice")
    assert result.code == 1
    assert "The policy check failed on this commit" in replies(standin, 7)[-1]
    assert prod_database(repo)


def test_the_scale_out_workflow_never_passes_a_plan_it_could_not_check(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = drop_prod_database(repo, single_job=False)
    run = MatrixRun(repo, 7)
    [planned] = run.plan("data-prod", token=False)  # an older ci-matrix.yml: no token
    assert planned.code == 0, planned.out + planned.err
    assert "::warning title=infra plan::GITHUB_TOKEN is not set" in planned.out
    refreshed = run.refresh()
    assert refreshed.code == 0, refreshed.out + refreshed.err
    board = dashboard_body(standin, 7, head)
    assert shown_policy(board, "data-prod") == PolicyResult("data-prod", (UNCHECKED,))
    assert policy_row(board).startswith("| Policy | ❌ |")

    planned, _ = repo.comment(7, "/plan", "alice")  # one job: plan and check
    assert planned.code == 0, planned.out + planned.err
    board = dashboard_body(standin, 7, head)
    assert shown_policy(board, "data-prod") == PolicyResult("data-prod", (DESTROYED,))


# -- infra policy test --------------------------------------------------------------------------


def plan_json(workdir: Path, main_tf: str) -> Path:
    """The JSON of a real plan of `main_tf` in `workdir`, whose state is what was applied
    before."""
    (workdir / "main.tf").write_text(main_tf)
    env = {"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": os.environ["PATH"]}

    def tf(*args: str) -> str:
        done = subprocess.run(
            ["terraform", *args], cwd=workdir, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout

    tf("init", "-input=false", "-no-color")
    tf("plan", "-input=false", "-no-color", "-out=plan.tfplan")
    path = workdir / "plan.json"
    path.write_text(tf("show", "-json", "plan.tfplan"))
    return path


DATABASE_TF = """
resource "terraform_data" "db" {
  input = { settings = { size = "large" } }
}
"""


def test_infra_policy_test_reads_failures_warnings_and_says_so_in_its_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "layer"
    (work / "db").mkdir(parents=True)
    (work / "db" / "main.tf").write_text(DATABASE_TF)
    module = 'module "postgres" {\n  source = "./db"\n}\n'
    created = plan_json(work, module)
    subprocess.run(
        ["terraform", "apply", "-input=false", "-no-color", "plan.tfplan"],
        cwd=work,
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": os.environ["PATH"]},
        capture_output=True,
        check=True,
    )
    policy = str(EXAMPLE / "policy")

    passed = infra(tmp_path, "policy", "test", str(created), "--policy", policy)
    assert passed.code == 0, passed.out
    assert "0 failures, 0 warnings" in passed.out

    (work / "db" / "main.tf").write_text(DATABASE_TF.replace("large", "xlarge"))
    resized = infra(tmp_path, "policy", "test", str(plan_json(work, module)), "-p", policy)
    assert resized.code == 0, resized.out
    assert "WARN - " in resized.out and "resized from large to xlarge" in resized.out

    destroyed = infra(tmp_path, "policy", "test", str(plan_json(work, "")), "--policy", policy)
    assert destroyed.code == 1, destroyed.out
    assert "FAIL - " in destroyed.out
    assert "module.postgres.terraform_data.db would be destroyed" in destroyed.out
    other_namespace = infra(
        tmp_path, "policy", "test", str(work / "plan.json"), "-p", policy, "-n", "other"
    )
    assert other_namespace.code == 0 and "namespaces other: 0 failures" in other_namespace.out

    not_json = tmp_path / "plan.txt"
    not_json.write_text("Plan: 1 to destroy")
    capsys.readouterr()
    broken = infra(tmp_path, "policy", "test", str(not_json), "--policy", policy)
    assert broken.code == 2 and "plan.txt is not JSON" in capsys.readouterr().err
    (tmp_path / "bad.rego").write_text("package main\ndeny contains msg if {\n")
    unparsable = infra(tmp_path, "policy", "test", str(created), "--policy", "bad.rego")
    assert unparsable.code == 2 and "bad.rego" in capsys.readouterr().err
