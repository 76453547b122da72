"""The event file GitHub Actions writes is read once into typed records; a payload that lacks
what the pipeline needs stops the job with a message naming the field, not a KeyError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from homelab import base_env, infra
from infra_pipeline.core.github_models import pull_from_json
from infra_pipeline.core.webhook_events import (
    EVENT_TYPES,
    IssueCommentEvent,
    MergeGroupEvent,
    PullRequestEvent,
    PushEvent,
    ScheduleEvent,
    WorkflowDispatchEvent,
    parse_event,
)
from infra_pipeline.errors import InfraError
from infra_pipeline.events_supported import HANDLED_EVENTS
from standin import make_event


def test_every_handled_event_has_a_record() -> None:
    assert set(EVENT_TYPES) == set(HANDLED_EVENTS)


def test_a_pull_request_event_gives_the_record_the_api_gives() -> None:
    payload = make_event(
        "pull_request", "opened", number=12, head_sha="a" * 40, base_sha="b" * 40, author="bob"
    )

    event = parse_event("pull_request", payload)

    assert isinstance(event, PullRequestEvent)
    assert event.action == "opened"
    assert event.repository.default_branch == "main"
    data = payload["pull_request"]
    assert event.pull_request.record() == pull_from_json(
        cast(Any, data), merged=bool(data.get("merged")), mergeable=data.get("mergeable")
    )
    assert (event.pull_request.record().number, event.pull_request.record().author) == (12, "bob")


def test_a_fork_whose_repository_was_deleted_is_still_a_fork() -> None:
    payload = make_event("pull_request", "opened", extra={"pull_request.head.repo": None})

    event = parse_event("pull_request", payload)

    assert isinstance(event, PullRequestEvent)
    pr = event.pull_request.record()
    assert pr.head_repo is None and pr.is_fork


def test_a_comment_on_a_pull_request_and_one_on_an_issue() -> None:
    on_pr = parse_event(
        "issue_comment",
        make_event("issue_comment", "created", number=7, body="/plan", user="alice", comment_id=5),
    )
    on_issue = parse_event(
        "issue_comment", make_event("issue_comment", "created", on_pull_request=False)
    )

    assert isinstance(on_pr, IssueCommentEvent) and isinstance(on_issue, IssueCommentEvent)
    assert (on_pr.issue.number, on_pr.issue.is_pull_request) == (7, True)
    assert (on_pr.comment.id, on_pr.comment.body, on_pr.comment.user.login) == (5, "/plan", "alice")
    assert not on_issue.issue.is_pull_request


def test_push_dispatch_merge_group_and_schedule() -> None:
    push = parse_event("push", make_event("push", after="c" * 40))
    elsewhere = parse_event("push", make_event("push", ref="refs/heads/feature"))
    dispatch = parse_event("workflow_dispatch", make_event("workflow_dispatch", inputs={}))
    group = parse_event("merge_group", make_event("merge_group", "checks_requested"))
    schedule = parse_event("schedule", make_event("schedule", schedule="17 5 * * *"))

    assert isinstance(push, PushEvent) and isinstance(elsewhere, PushEvent)
    assert (push.after, push.on_default_branch, elsewhere.on_default_branch) == (
        "c" * 40,
        True,
        False,
    )
    assert isinstance(dispatch, WorkflowDispatchEvent)
    assert (dispatch.command, dispatch.layer) == ("plan", "all")  # the form's defaults
    assert isinstance(group, MergeGroupEvent) and len(group.merge_group.head_sha) == 40
    assert isinstance(schedule, ScheduleEvent) and schedule.schedule == "17 5 * * *"


def test_a_payload_missing_what_the_pipeline_reads_names_every_missing_field() -> None:
    payload = make_event("pull_request", "opened")
    del payload["pull_request"]["head"]["sha"]
    del payload["repository"]["default_branch"]

    with pytest.raises(InfraError) as raised:
        parse_event("pull_request", payload)

    assert "pull_request.head.sha: Field required" in raised.value.message
    assert "repository.default_branch: Field required" in raised.value.message


def test_infra_event_with_a_malformed_payload_stops_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = make_event("issue_comment", "created", body="/apply")
    del payload["comment"]["user"]
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env = base_env(GITHUB_EVENT_NAME="issue_comment", GITHUB_EVENT_PATH=str(path))

    result = infra(tmp_path, "event", env=env)

    error = capsys.readouterr().err
    assert result.code == 1
    assert "error: the issue_comment event payload is not what GitHub sends: comment.user" in error
    assert "Traceback" not in error and "KeyError" not in error
