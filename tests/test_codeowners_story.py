"""`layers.data-prod.codeowners: true` as a pull request story with real Terraform, a real git
checkout and the GitHub stand-in: CODEOWNERS from the base commit decides who may approve
`data-prod`, a team's members come from GitHub's teams API, and what cannot be checked (an
email, a team the token cannot read) is named in the reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab import state_resources
from prstory import Repo, make_repo, replies
from standin import GitHubStandIn
from test_layer_policy_story import change_platform_and_prod, merge_config

CODEOWNERS = """\
*                  @acme/platform
/envs/prod/data/   @acme/dba carol@acme.com
"""


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "admin")
    standin.set_permission("bob", "write")
    return make_repo(tmp_path, standin, gh_env)


def prod_needs_an_owner(text: str) -> str:
    text = text.replace("  apply: maintain\n", "  apply: write\n")
    return text.replace("order: 4}", "order: 4, codeowners: true}")


def test_data_prod_waits_for_a_code_owners_approval(repo: Repo, standin: GitHubStandIn) -> None:
    merge_config(repo, standin, prod_needs_an_owner)
    repo.merge_to_main(".github/CODEOWNERS", CODEOWNERS, "code owners")
    standin.set_team("acme/dba", ["dave", "erin"])
    head = change_platform_and_prod(repo)
    # The pull request's own CODEOWNERS names its author: it is never read.
    standin.set_file(".github/CODEOWNERS", "* @bob\n", ref=head)
    standin.add_review(7, "bob")  # a writer, not an owner of envs/prod/data

    everything, _ = repo.comment(7, "/apply all", "bob")

    assert everything.code == 0, everything.out + everything.err
    reply = replies(standin, 7)[-1]
    assert "`/apply` of `platform`: applied" in reply
    assert "`data-prod` requires an approval by a code owner of `envs/prod/data/`" in reply
    assert "line 2 of `.github/CODEOWNERS` at the base commit" in reply
    assert "@acme/dba, carol@acme.com" in reply
    assert "Approvals of the head commit" in reply and "@bob; none counts as an owner's" in reply
    assert "Cannot be checked: carol@acme.com (an email" in reply
    assert state_resources(repo.root, "data-prod") == []

    # A member of @acme/dba who may only read the repository: GitHub would not count her.
    standin.set_permission("erin", "read")
    standin.add_review(7, "erin")
    reader, _ = repo.comment(7, "/apply data-prod", "bob")

    assert reader.code == 1
    reply = replies(standin, 7)[-1]
    assert "Approvals of the head commit" in reply and "@bob, @erin; none counts" in reply
    assert "Not counted: @erin (no write access to the repository" in reply
    assert state_resources(repo.root, "data-prod") == []

    standin.set_permission("dave", "write")
    standin.add_review(7, "dave")  # a member of @acme/dba who may write
    named, _ = repo.comment(7, "/apply data-prod", "bob")

    assert named.code == 0, named.out + named.err
    assert "approved by code owner @dave (@acme/dba)" in named.out
    assert state_resources(repo.root, "data-prod") != []
    teams = standin.request_counts()[("GET", "/orgs/{org}/teams/{team_slug}/members")]
    assert teams == 3  # once per /apply that needed it


def test_an_unreadable_team_and_a_missing_codeowners_are_named(
    repo: Repo, standin: GitHubStandIn
) -> None:
    merge_config(repo, standin, prod_needs_an_owner)
    change_platform_and_prod(repo)
    standin.set_permission("dave", "write")
    standin.add_review(7, "dave")

    result, _ = repo.comment(7, "/apply data-prod", "bob")

    assert result.code == 1
    reply = replies(standin, 7)[-1]
    assert "there is no CODEOWNERS file" in reply and "remove `codeowners`" in reply

    # CODEOWNERS lands on main, the pull request's base now; the team is one the workflow's
    # token cannot see.
    standin.pulls[7].base_sha = repo.merge_to_main("CODEOWNERS", CODEOWNERS, "code owners")
    replanned, _ = repo.comment(7, "/plan", "bob")  # the base moved: plan against it
    assert replanned.code == 0, replanned.out + replanned.err
    again, _ = repo.comment(7, "/apply data-prod", "bob")

    assert again.code == 1
    reply = replies(standin, 7)[-1]
    assert "line 2 of `CODEOWNERS`" in reply
    assert "Cannot be checked: @acme/dba (a team the workflow's token cannot read" in reply
    assert state_resources(repo.root, "data-prod") == []
