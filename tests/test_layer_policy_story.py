"""What teams coming from Atlantis, Digger or Terrateam rely on, told as pull request stories
with real Terraform, a real git checkout and the GitHub stand-in: `autoplan` control and
per-layer permissions and requirements (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard_html import page_of
from homelab import state_resources
from prstory import Repo, dashboard_body, git, make_repo, replies
from standin import GitHubStandIn

PLATFORM_FILE = "modules/platform/main.tf"
STAGING_FILE = "modules/data-staging/main.tf"


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "admin")
    standin.set_permission("bob", "write")
    return make_repo(tmp_path, standin, gh_env)


def merge_config(repo: Repo, standin: GitHubStandIn, edit: Callable[[str], str]) -> None:
    """`edit` infra.yaml on main (as a reviewed, merged change) and start the PR branch over
    from there."""
    git(repo.root, "checkout", "-q", "main")
    path = repo.root / "infra.yaml"
    text = edit(path.read_text())
    path.write_text(text)
    git(repo.root, "commit", "-qam", "infra.yaml policy")
    base = git(repo.root, "rev-parse", "HEAD")
    standin.add_commit(base)
    standin.set_ref("refs/heads/main", base)
    standin.set_file("infra.yaml", text, ref=base)
    git(repo.root, "checkout", "-qB", "change")
    repo.base = base


def change_platform_and_staging(repo: Repo, number: int = 7) -> str:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more ingress replicas")
    head = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.open_pr(number, head, [PLATFORM_FILE, STAGING_FILE])
    return head


def test_autoplan_false_plans_nothing_on_open_and_plans_on_comment(
    repo: Repo, standin: GitHubStandIn
) -> None:
    merge_config(repo, standin, lambda text: text + "autoplan: false\n")
    head = change_platform_and_staging(repo)

    opened = repo.pr_event(7)
    assert opened.code == 0, opened.out + opened.err
    rows = page_of(dashboard_body(standin, 7, head)).rows()
    assert rows["CI Validate"][0] == "✅"  # validated all the same
    assert rows["Plan: platform"][:2] == [
        "⏭️",
        "not planned automatically: comment /plan platform",
    ]
    assert rows["Plan: data-staging"][:2] == [
        "⏭️",
        "not planned automatically: comment /plan data-staging",
    ]
    assert rows["Plan: 2 others"][:2] == ["➖", "not touched: bootstrap, data-prod"]
    audit = [line for line in opened.out.splitlines() if line.startswith("infra-audit ")]
    record = json.loads(audit[-1].removeprefix("infra-audit "))
    assert record["command"] == "auto-plan" and record["layers"] == []  # no plan ran
    assert record["fingerprints"] == {}

    planned, _ = repo.comment(7, "/plan", "bob")
    assert planned.code == 0, planned.out + planned.err
    rows = page_of(dashboard_body(standin, 7, head)).rows()
    assert rows["Plan: platform"][0] == rows["Plan: data-staging"][0] == "✅"
    assert rows["Plan: 2 others"][:2] == ["➖", "not touched: bootstrap, data-prod"]


def test_a_layers_autoplan_overrides_the_global_one(repo: Repo, standin: GitHubStandIn) -> None:
    def edit(text: str) -> str:
        text = text.replace("order: 2}", "order: 2, autoplan: true}")
        return text + "autoplan: false\n"

    merge_config(repo, standin, edit)
    head = change_platform_and_staging(repo)
    opened = repo.pr_event(7)
    assert opened.code == 0, opened.out + opened.err
    board = dashboard_body(standin, 7, head)
    assert "| Plan: platform | ✅ |" in board
    assert (
        "| Plan: data-staging | ⏭️ | not planned automatically: comment /plan data-staging" in board
    )

    planned, _ = repo.comment(7, "/plan data-staging", "bob")
    assert planned.code == 0, planned.out + planned.err
    board = dashboard_body(standin, 7, head)
    assert "| Plan: data-staging | ✅ |" in board
    assert "| Plan: platform | ✅ |" in board  # the earlier plan stands
    assert state_resources(repo.root, "platform") == []  # planned, never applied


PROD_FILE = "modules/data-prod/main.tf"


def prod_needs_admin(text: str) -> str:
    text = text.replace("  apply: maintain\n", "  apply: write\n")
    return text.replace("order: 4}", "order: 4, permissions: {apply: admin}}")


def change_platform_and_prod(repo: Repo, number: int = 7) -> str:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more ingress replicas")
    head = repo.commit(PROD_FILE, '"large"', '"xlarge"', "bigger prod db")
    repo.open_pr(number, head, [PLATFORM_FILE, PROD_FILE])
    opened = repo.pr_event(number)
    assert opened.code == 0, opened.out + opened.err
    return head


def test_a_writer_applies_platform_but_not_data_prod(repo: Repo, standin: GitHubStandIn) -> None:
    merge_config(repo, standin, prod_needs_admin)
    head = change_platform_and_prod(repo)
    board = dashboard_body(standin, 7, head)
    assert "| Plan: platform | ✅ |" in board and "| Plan: data-prod | ✅ |" in board

    named, comment_id = repo.comment(7, "/apply data-prod", "bob")
    assert named.code == 1
    reply = replies(standin, 7)[-1]
    assert "@bob needs the `admin` role" in reply and "/apply data-prod" in reply
    assert standin.reactions(comment_id) == ["eyes", "confused"]
    assert state_resources(repo.root, "data-prod") == []

    everything, _ = repo.comment(7, "/apply all", "bob")
    assert everything.code == 0, everything.out + everything.err
    reply = replies(standin, 7)[-1]
    assert "`/apply` of `platform`: applied" in reply
    assert "Not applied:" in reply and "`data-prod`: @bob needs the `admin` role" in reply
    assert "module.ingress.terraform_data.deployment" in state_resources(repo.root, "platform")
    assert state_resources(repo.root, "data-prod") == []

    by_admin, _ = repo.comment(7, "/apply", "alice")
    assert by_admin.code == 0, by_admin.out + by_admin.err
    assert state_resources(repo.root, "data-prod") != []


def test_a_pull_request_cannot_lower_data_prods_bar(repo: Repo, standin: GitHubStandIn) -> None:
    merge_config(repo, standin, prod_needs_admin)
    repo.commit("infra.yaml", "permissions: {apply: admin}", "permissions: {apply: write}", "me")
    change_platform_and_prod(repo)
    result, _ = repo.comment(7, "/apply data-prod", "bob")
    assert result.code == 1
    assert "@bob needs the `admin` role" in replies(standin, 7)[-1]
    assert state_resources(repo.root, "data-prod") == []
