"""An `/apply` comment approves only what the dashboard showed when it was written, and only
while it stands: attacks on the time between a comment and its job (a push or a `/plan`
while the job waits, a re-run of an old run, a comment deleted, edited or written by someone
who has since lost the role), and comments that look like one thing and parse as another.
Real Terraform, real git, the stand-in, through `infra event`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from homelab import state_resources
from infra_pipeline.core.dashboard import steps as dash
from prstory import Repo, dashboard_of, make_repo, replies
from standin import GitHubStandIn, make_event
from test_apply_integrity import (
    DESTROYED,
    PLATFORM_FILE,
    drop_monitoring,
    harmless,
    live_platform,
    refused,
)


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    standin.set_permission("walter", "write")
    return make_repo(tmp_path, standin, gh_env)


def payload(number: int, body: str, user: str, comment_id: int) -> dict[str, Any]:
    return make_event(
        "issue_comment", "created", number=number, body=body, user=user, comment_id=comment_id
    )


def dashboard_posted(standin: GitHubStandIn, number: int, sha: str) -> datetime:
    (found,) = [
        c for c in standin.comments(number) if c.body.startswith(f"<!-- infra-dashboard:{sha[:7]}")
    ]
    return found.created_at


def nothing_applied(repo: Repo, live: list[str]) -> None:
    assert state_resources(repo.root, "platform") == live
    assert not [r for r in repo.standin.refs if r.startswith("refs/infra-locks/")]
    assert not [d for d in repo.standin.deployments if d.environment == "platform"]


def test_an_apply_never_reaches_a_head_pushed_after_the_comment(
    repo: Repo, standin: GitHubStandIn
) -> None:
    live = live_platform(repo)
    h1 = harmless(repo)
    repo.open_pr(7, h1, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    # Alice reviews H1 (+0 ~1 -0) and asks for it; her job runs and applies H1.
    asked = standin.add_comment(7, "/apply", user="alice")
    first = repo.event("issue_comment", payload(7, "/apply", "alice", asked.id))
    assert first.code == 0, first.out + first.err
    live = state_resources(repo.root, "platform")

    # Walter pushes H2, which destroys monitoring; the pipeline plans it and shows it.
    h2 = drop_monitoring(repo)
    repo.push(7, h2, [PLATFORM_FILE])
    assert repo.pr_event(7, "synchronize").code == 0
    assert dashboard_of(standin, 7, h2).layer("platform").record is not None
    # Then he re-runs Alice's run (writers may re-run any run): same payload, same comment,
    # which was written before H2's dashboard existed. Before: H2's destroy was applied
    # under Alice's name. Now: refused, nothing taken.
    asked.created_at = dashboard_posted(standin, 7, h2) - timedelta(seconds=1)
    reply = refused(repo, repo.event("issue_comment", payload(7, "/apply", "alice", asked.id)))
    assert "was posted after the `/apply` comment" in reply
    nothing_applied_since(repo, live)

    # The same holds for a job that waited in the queue while the push landed: a fresh
    # `/apply` written after H2's plan is what applies it.
    result, _ = repo.comment(7, "/apply", "alice")
    assert result.code == 0, result.out + result.err
    assert DESTROYED not in state_resources(repo.root, "platform")


def nothing_applied_since(repo: Repo, live: list[str]) -> None:
    assert state_resources(repo.root, "platform") == live
    assert DESTROYED in live


def test_a_plan_made_after_the_comment_is_not_what_it_approved(
    repo: Repo, standin: GitHubStandIn
) -> None:
    live = live_platform(repo)
    head = harmless(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    planned = dashboard_of(standin, 7, head).layer("platform").plan.finished_at
    assert planned is not None
    # Alice comments right after reading the plan; before her job starts, Walter comments
    # `/plan`, so the plan on the dashboard is one made after her comment (with code that
    # reads the outside world, it can differ from the one she read).
    asked = standin.add_comment(7, "/apply", user="alice")
    asked.created_at = planned.replace(microsecond=0)
    while datetime.now(UTC).replace(microsecond=0) <= asked.created_at:
        time.sleep(0.05)  # the re-plan must finish in a later second than the comment
    replan, _ = repo.comment(7, "/plan", "walter")
    assert replan.code == 0, replan.out + replan.err

    reply = refused(repo, repo.event("issue_comment", payload(7, "/apply", "alice", asked.id)))
    assert "The plan of `platform`" in reply and "finished after the `/apply` comment" in reply
    nothing_applied(repo, live)


def test_a_withdrawn_apply_applies_nothing(repo: Repo, standin: GitHubStandIn) -> None:
    live = live_platform(repo)
    head = drop_monitoring(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0

    # Alice deletes her `/apply` before the job ran: before, it applied anyway.
    asked = standin.add_comment(7, "/apply platform", user="alice")
    with standin._lock:
        del standin.repo().comments[asked.id]
    event = payload(7, "/apply platform", "alice", asked.id)
    reply = refused(repo, repo.event("issue_comment", event))
    assert "was deleted before this job ran" in reply
    nothing_applied(repo, live)

    # She edits it instead, to hold it back: the job runs the event's copy of the text.
    asked = standin.add_comment(7, "/apply platform", user="alice")
    asked.body = "~~/apply platform~~ not yet: waiting for the DBA"
    event = payload(7, "/apply platform", "alice", asked.id)
    reply = refused(repo, repo.event("issue_comment", event))
    assert "was edited before this job ran" in reply
    nothing_applied(repo, live)

    # Alice lost the maintain role between her comment and its job: the role is read when
    # the job runs.
    asked = standin.add_comment(7, "/apply", user="alice")
    standin.set_permission("alice", "write")
    reply = refused(repo, repo.event("issue_comment", payload(7, "/apply", "alice", asked.id)))
    assert "needs the `maintain` role" in reply
    nothing_applied(repo, live)

    # Restored, a comment that stands applies what was shown.
    standin.set_permission("alice", "maintain")
    result, _ = repo.comment(7, "/apply", "alice")
    assert result.code == 0, result.out + result.err
    assert DESTROYED not in state_resources(repo.root, "platform")


LOOK_ALIKES = {
    "/\u0430pply": "Unknown command",  # Cyrillic а
    "/apply\u200b": "Unknown command",  # a zero-width space after it
    "/apply plat\u200bform": "Unknown layer `plat\\u200bform`",  # shown, not hidden
    "/apply data-\u017ftaging": "Unknown layer",  # ſ, which case-folds to s
    "/apply platform please": "Unknown layer `please`",  # trailing prose
    "/apply " + "platform " * 60: "Too many arguments",  # a pasted wall
}
IGNORED = (
    "\u200b/apply",  # zero-width space first: not a command a reader sees
    "> /apply",  # quoted
    "```\n/apply\n```",  # code
    "    /apply",  # indented code
    "<!--\n/apply\n-->",  # hidden in an HTML comment
    "LGTM\n/apply",  # a command is the first line only
)


def test_comments_that_look_like_apply_but_are_not(repo: Repo, standin: GitHubStandIn) -> None:
    live = live_platform(repo)
    head = drop_monitoring(repo)
    repo.open_pr(7, head, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    before = len(replies(standin, 7))

    for body, answer in LOOK_ALIKES.items():
        result, _ = repo.comment(7, body, "alice")
        assert result.code == 2, (body, result.out)
        assert answer in replies(standin, 7)[-1], body
    for body in IGNORED:
        result, _ = repo.comment(7, body, "alice")
        assert result.code == 0 and "comment ignored" in result.out, (body, result.out)
    assert len(replies(standin, 7)) == before + len(LOOK_ALIKES)

    # An edit that makes an old comment say `/apply` is an `edited` event: not handled.
    old = standin.add_comment(7, "looks good", user="alice")
    old.body = "/apply"
    edited = payload(7, "/apply", "alice", old.id)
    edited["action"] = "edited"
    result = repo.event("issue_comment", edited)
    assert result.code == 0 and "is not handled" in result.out
    assert standin.reactions(old.id) == []
    nothing_applied(repo, live)
    assert (
        dash.parse(
            next(c.body for c in standin.comments(7) if c.body.startswith("<!-- infra-dashboard"))
        )
        .layer("platform")
        .applied
        is None
    )
