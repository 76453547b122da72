"""`codeowners: true`, the pure half: CODEOWNERS read as GitHub reads it (last matching line
wins, gitignore-style patterns, users, teams and emails) and the decision for one layer."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from infra_pipeline.core import codeowners as co
from infra_pipeline.core.github_models import PullRequest, Review
from test_gate import pull as gate_pull

CODEOWNERS = """\
# Everything is the platform team's, unless a later line says otherwise.
*                     @acme/platform
/envs/prod/           @acme/dba  carol@acme.com   # prod data
/envs/prod/data/      @carol @acme/dba
docs/                 @acme/docs
*.tf                  @hcl-linters
/envs/sandbox/
/modules/\\#weird/    @dave
!/envs/prod/keep/     @mallory
/envs/[a-z]/          @mallory
/envs/staging/        not-an-owner
"""


def parsed() -> co.CodeOwners:
    return co.parse(CODEOWNERS, ".github/CODEOWNERS")


@pytest.mark.parametrize(
    ("directory", "line", "owners"),
    [
        ("envs/prod/data", 4, "@carol @acme/dba"),  # the later, more specific line wins
        ("envs/prod/network", 3, "@acme/dba carol@acme.com"),
        ("platform", 2, "@acme/platform"),  # `*.tf` names files, not a directory
        ("docs", 5, "@acme/docs"),
        ("site/docs", 5, "@acme/docs"),  # `docs/` is any docs directory
        ("envs/sandbox", 7, ""),  # a line without owners: nobody owns it
        ("modules/#weird", 8, "@dave"),  # `\\#` is a literal #
        ("envs/staging", 11, ""),  # its only word is not an owner
        (".", 2, "@acme/platform"),  # the root layer
    ],
)
def test_the_last_matching_line_decides_a_layers_owners(
    directory: str, line: int, owners: str
) -> None:
    rule = co.rule_for(parsed(), directory)

    assert rule is not None
    assert (rule.line, " ".join(o.text for o in rule.owners)) == (line, owners)


def test_lines_github_rejects_are_skipped_and_named() -> None:
    skipped = parsed().skipped

    assert any("line 9" in s and "`!`" in s for s in skipped)
    assert any("line 10" in s for s in skipped)
    assert any("`not-an-owner` is not an @login" in s for s in skipped)
    assert co.rule_for(co.parse("/envs/prod/ @a\n", "CODEOWNERS"), "platform") is None


def test_owner_kinds() -> None:
    rule = co.rule_for(parsed(), "envs/prod/network")
    assert rule is not None
    assert [(o.text, o.kind) for o in rule.owners] == [
        ("@acme/dba", co.OwnerKind.TEAM),
        ("carol@acme.com", co.OwnerKind.EMAIL),
    ]
    assert rule.owners[0].team == ("acme", "dba")


def pull() -> PullRequest:
    return replace(gate_pull(), author="alice", head_sha="h" * 40)


def review(user: str, state: str = "APPROVED", commit: str = "h" * 40) -> Review:
    return Review(id=1, user=user, state=state, commit_id=commit)


def test_only_latest_approvals_of_the_head_by_others_count() -> None:
    reviews = [
        review("alice"),  # the author
        review("bob", commit="o" * 40),  # an older commit
        review("Carol"),
        review("dave"),
        review("dave", "CHANGES_REQUESTED"),  # dave changed his mind
        review("erin", "COMMENTED"),
    ]

    assert co.approvers(reviews, pull()) == ["carol"]


def test_a_user_or_a_team_member_meets_it_and_what_cannot_be_checked_is_named() -> None:
    rule = co.rule_for(parsed(), "envs/prod/network")
    assert rule is not None
    dba = {("acme", "dba"): frozenset({"dave"})}

    assert co.decide(rule, ["dave"], dba) == co.Verdict(True, "@dave (@acme/dba)")
    refused = co.decide(rule, ["bob"], dba)
    assert not refused.met
    assert len(refused.unchecked) == 1 and "carol@acme.com (an email" in refused.unchecked[0]
    hidden = co.decide(rule, ["dave"], {("acme", "dba"): None})
    assert not hidden.met
    assert "@acme/dba (a team the workflow's token cannot read" in hidden.unchecked[0]
    carol = co.rule_for(parsed(), "envs/prod/data")
    assert carol is not None
    assert co.decide(carol, ["CAROL"], {}).by == "@carol"


def test_refusals_say_what_is_missing_and_what_to_do() -> None:
    codeowners = parsed()
    shas = {"base_sha": "b" * 40, "head_sha": "h" * 40}

    none = co.refusal_text("data-prod", "envs/prod/data", None, None, None, [], **shas)
    assert "no CODEOWNERS file (.github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS)" in none
    assert "`bbbbbbb`" in none and "remove `codeowners`" in none

    sandbox = co.rule_for(codeowners, "envs/sandbox")
    ownerless = co.refusal_text("sandbox", "envs/sandbox", codeowners, sandbox, None, [], **shas)
    assert "line 7 of `.github/CODEOWNERS`" in ownerless and "names no owner" in ownerless
    assert "no one can meet it" in ownerless

    unmatched = co.parse("/envs/prod/ @a\n", "CODEOWNERS")
    text = co.refusal_text("platform", "platform", unmatched, None, None, [], **shas)
    assert "no line of `CODEOWNERS`" in text and "`/platform/ @org/team`" in text

    rule = co.rule_for(codeowners, "envs/prod/network")
    assert rule is not None
    verdict = co.decide(rule, ["bob"], {("acme", "dba"): None})
    text = co.refusal_text("net", "envs/prod/network", codeowners, rule, verdict, ["bob"], **shas)
    assert "its owners by line 3 of `.github/CODEOWNERS`" in text
    assert "Approvals of the head commit `hhhhhhh`: @bob; none counts as an owner's." in text
    assert "Cannot be checked: @acme/dba (a team" in text and "carol@acme.com (an email" in text
