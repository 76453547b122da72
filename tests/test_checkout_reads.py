"""What a job reads from its checkout instead of asking GitHub: the default branch's
`infra.yaml` (exactly that commit's bytes, never the PR's work tree) and a PR's changed files
(as GitHub lists them: renames on both sides, deletions), each falling back to the API when
the checkout cannot tell (a shallow clone, a stale base)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from infra_pipeline.adapters.base_config import policy_at
from infra_pipeline.adapters.codeowners import read_codeowners
from infra_pipeline.adapters.git_changes import changed_files
from infra_pipeline.adapters.git_files import AtCommit, file_at_tip
from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.config import load_config
from infra_pipeline.errors import InfraError
from prstory import Repo, git, make_repo
from standin import GitHubStandIn

CONTENTS = ("GET", "/repos/{owner}/{repo}/contents/{path}")
FILES = ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files")
PLATFORM_FILE = "modules/platform/main.tf"


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    standin.set_permission("walter", "write")
    return make_repo(tmp_path, standin, gh_env)


def _apply_role(repo: Repo, gh_env: dict[str, str], tip: str | None) -> str:
    config = load_config(repo.root / "infra.yaml")
    with GitHub.from_env(gh_env) as github:
        return policy_at(config, github, "main", lambda line: None, tip=tip).role_for("apply").value


# -- the default branch's infra.yaml --------------------------------------------------------------


def test_the_policy_is_main_s_committed_bytes_not_the_work_tree_and_costs_no_request(
    repo: Repo, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    main_text = (repo.root / "infra.yaml").read_text()
    assert "apply: maintain" in main_text
    # The PR branch relaxes the rule, committed and again in the work tree, and GitHub's copy
    # is made unreadable: only main's commit in the checkout can say `maintain`.
    repo.commit("infra.yaml", "apply: maintain", "apply: write", "let writers apply")
    (repo.root / "infra.yaml").write_text(main_text.replace("apply: maintain", "apply: read"))
    standin.set_file("infra.yaml", None, ref=repo.base)
    before = standin.request_counts()

    assert _apply_role(repo, gh_env, tip=repo.base) == "maintain"
    assert not standin.request_counts() - before


def test_a_base_the_checkout_lacks_is_read_from_github(
    repo: Repo, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    # A shallow clone: GitHub's main is a commit the checkout never fetched.
    missing = standin.add_commit(message="main moved on")
    standin.set_ref("refs/heads/main", missing)
    text = (repo.root / "infra.yaml").read_text().replace("apply: maintain", "apply: admin")
    standin.set_file("infra.yaml", text, ref=missing)
    before = standin.request_counts()

    assert _apply_role(repo, gh_env, tip=missing) == "admin"
    assert (standin.request_counts() - before)[CONTENTS] == 1


def test_a_stale_base_sha_is_not_trusted_for_the_policy(
    repo: Repo, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    old_base = repo.base
    text = (repo.root / "infra.yaml").read_text().replace("apply: maintain", "apply: admin")
    repo.merge_to_main("infra.yaml", text, "tighten the policy")  # after the PR was opened
    before = standin.request_counts()

    # GitHub's `base.sha` can still name the commit the PR was opened on: main has moved on.
    assert _apply_role(repo, gh_env, tip=old_base) == "admin"
    assert (standin.request_counts() - before)[CONTENTS] == 1


def test_without_a_tip_github_is_asked(
    repo: Repo, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    before = standin.request_counts()
    assert _apply_role(repo, gh_env, tip=None) == "maintain"
    assert (standin.request_counts() - before)[CONTENTS] == 1


def test_what_is_no_file_in_the_commit_reads_as_none(repo: Repo) -> None:
    (repo.root / "link.yaml").symlink_to("infra.yaml")
    (repo.root / "latin1.yaml").write_bytes("caf\xe9: 1\n".encode("latin-1"))
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "odd files")
    head = git(repo.root, "rev-parse", "HEAD")
    git(repo.root, "branch", "-f", "main", head)

    assert file_at_tip(repo.root, "main", head, "link.yaml") == AtCommit(None)
    assert file_at_tip(repo.root, "main", head, "platform") == AtCommit(None)
    assert file_at_tip(repo.root, "main", head, "nothing/here.yaml") == AtCommit(None)
    found = file_at_tip(repo.root, "main", head, PLATFORM_FILE)
    assert found is not None and found.text == (repo.root / PLATFORM_FILE).read_text()
    with pytest.raises(InfraError, match="not UTF-8"):
        file_at_tip(repo.root, "main", head, "latin1.yaml")
    assert file_at_tip(repo.root, "main", "--version", "infra.yaml") is None


def test_the_remote_tracking_branch_actions_checkout_fetched_is_preferred(repo: Repo) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    git(repo.root, "update-ref", "refs/remotes/origin/main", head)

    assert file_at_tip(repo.root, "main", repo.base, "infra.yaml") is None  # local main is stale
    assert file_at_tip(repo.root, "main", head, "infra.yaml") is not None


# -- the pull request's files ---------------------------------------------------------------------


def test_changed_files_since_the_fork_match_github_s_list(repo: Repo) -> None:
    root = repo.root
    git(root, "mv", "modules/platform/main.tf", "modules/platform/platform.tf")
    git(root, "rm", "-q", "modules/data-prod/main.tf")
    (root / "bootstrap" / "new.tf").write_text("# new\n")
    (root / "modules" / "data-staging" / "main.tf").write_text("# changed\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "rename, delete, add, modify")
    head = git(root, "rev-parse", "HEAD")
    # main moves on after the fork: its own change is not the PR's.
    repo.merge_to_main("README-main.md", "main only\n", "main moves on")

    files = changed_files(root, repo.base, head, {}, since_fork=True)

    assert files is not None
    assert sorted(files) == [
        "bootstrap/new.tf",
        "modules/data-prod/main.tf",
        "modules/data-staging/main.tf",
        "modules/platform/main.tf",
        "modules/platform/platform.tf",
    ]


def test_changed_files_cannot_tell_without_both_commits(repo: Repo) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    assert changed_files(repo.root, "f" * 40, head, {}, since_fork=True) is None
    assert changed_files(repo.root, repo.base, "e" * 40, {}, since_fork=True) is None


def test_a_pr_job_lists_its_files_from_git_and_reads_main_s_policy_locally(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    # GitHub would list a file the PR does not change: the job must not have asked.
    repo.open_pr(7, head, [PLATFORM_FILE, "modules/data-prod/main.tf"])
    before = standin.request_counts()

    opened = repo.pr_event(7)

    assert opened.code == 0, opened.out + opened.err
    asked = standin.request_counts() - before
    assert asked[FILES] == 0 and asked[CONTENTS] == 0
    assert "touches platform\n" in opened.out or "touches platform " in opened.out


COUNTING = """#!/bin/sh
echo "$*" >> {log}
exec "{terragrunt}" "$@"
"""


def test_a_pr_job_asks_terragrunt_about_the_units_once(repo: Repo, tmp_path: Path) -> None:
    """Change detection and CI Validate's order check read the same report of `terragrunt
    find`: one run of it per job, not one each."""
    real = shutil.which("terragrunt", path=repo.env["PATH"])
    assert real is not None, "terragrunt is not on PATH: run `make tools`"
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "terragrunt.log"
    shim = shims / "terragrunt"
    shim.write_text(COUNTING.format(log=log, terragrunt=real))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    repo.open_pr(7, head, [PLATFORM_FILE])

    opened = repo.event(
        "pull_request", repo.pr_payload(7), PATH=f"{shims}{os.pathsep}{repo.env['PATH']}"
    )

    assert opened.code == 0, opened.out + opened.err
    finds = [line for line in log.read_text().splitlines() if line.startswith("find ")]
    assert len(finds) == 1, finds
    assert any(line.startswith("plan ") for line in log.read_text().splitlines())


def test_a_pr_job_in_a_shallow_clone_asks_github(repo: Repo, standin: GitHubStandIn) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    absent = standin.add_commit(message="a base the checkout never fetched")
    standin.set_ref("refs/heads/main", absent)
    standin.set_file("infra.yaml", (repo.root / "infra.yaml").read_text(), ref=absent)
    standin.add_pull(7, head_sha=head, base_sha=absent, files=[PLATFORM_FILE])
    before = standin.request_counts()

    opened = repo.pr_event(7)

    assert opened.code == 0, opened.out + opened.err
    asked = standin.request_counts() - before
    assert asked[FILES] == 1 and asked[CONTENTS] == 1


# -- CODEOWNERS at the base commit ----------------------------------------------------------------


def test_codeowners_at_the_base_commit_is_read_from_the_checkout_else_from_github(
    repo: Repo, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    base = repo.merge_to_main(".github/CODEOWNERS", "/platform/ @alice\n", "code owners")
    shallow = standin.add_commit(message="a base the checkout never fetched")
    standin.set_file("CODEOWNERS", "/envs/ @bob\n", ref=shallow)
    with GitHub.from_env(gh_env) as github:
        before = standin.request_counts()
        local = read_codeowners(github, base, repo.root)
        assert not standin.request_counts() - before
        remote = read_codeowners(github, shallow, repo.root)

    assert local is not None and local.path == ".github/CODEOWNERS"
    assert remote is not None and remote.path == "CODEOWNERS"
    assert (standin.request_counts() - before)[CONTENTS] >= 1
