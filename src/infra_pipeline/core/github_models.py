"""The typed records `adapters.github.client` returns: plain frozen data, no GitHub client attached.

Only the fields the pipeline reads are kept, so the rest of the package never touches GitHub's
JSON and can build these records by hand in tests. The `*_from_json` functions at the end read
GitHub's JSON into them; githubkit's TypedDicts type that JSON for mypy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from msgspec import Struct, field

if TYPE_CHECKING:
    from githubkit_schemas.v2026_03_10.types import (
        DeploymentTypeForResponse,
        IssueCommentTypeForResponse,
        IssueTypeForResponse,
        PullRequestReviewTypeForResponse,
        PullRequestSimpleTypeForResponse,
        PullRequestTypeForResponse,
    )

ReactionContent = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]
StatusState = Literal["error", "failure", "pending", "success"]
ReviewEvent = Literal["APPROVE", "REQUEST_CHANGES", "COMMENT"]
DeploymentState = Literal[
    "error", "failure", "inactive", "in_progress", "queued", "pending", "success"
]
IssueState = Literal["open", "closed"]
MinimizeReason = Literal[
    "SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED", "LOW_QUALITY"
]


class PullRequest(Struct, frozen=True):
    number: int
    title: str
    state: str  # "open" | "closed"
    merged: bool
    draft: bool
    head_sha: str
    head_ref: str
    head_repo: str | None  # full name; None when the fork was deleted
    base_sha: str
    base_ref: str
    author: str
    is_fork: bool  # the head lives in another repository than the base
    mergeable: bool | None  # None while GitHub is still computing it (and on list endpoints)
    html_url: str
    node_id: str


class Comment(Struct, frozen=True):
    id: int
    node_id: str
    body: str
    user: str  # login; "ghost" when the account was deleted
    user_type: str  # "User", "Bot" or "Organization"
    created_at: datetime
    updated_at: datetime
    html_url: str = ""

    @property
    def is_bot(self) -> bool:
        return self.user_type == "Bot"


class Review(Struct, frozen=True):
    id: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str | None
    body: str = ""
    submitted_at: datetime | None = None


class CommitStatus(Struct, frozen=True):
    context: str
    state: str
    description: str | None
    target_url: str | None
    created_at: str = ""


class Deployment(Struct, frozen=True):
    id: int
    ref: str
    sha: str
    environment: str
    description: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


class Issue(Struct, frozen=True):
    number: int
    title: str
    state: str
    body: str
    labels: tuple[str, ...]
    html_url: str = ""
    created_at: datetime | None = None


class WorkflowRun(Struct, frozen=True):
    id: int
    status: str | None  # queued, in_progress, completed, waiting, ...
    conclusion: str | None  # success, failure, cancelled, ... once completed
    html_url: str


# -- GitHub's JSON → records (typed with githubkit's TypedDicts; no validation at runtime) --


class GitObjectJson(TypedDict):
    sha: str
    type: str


class GitRefJson(TypedDict):
    # githubkit's GitRef TypedDict names the field `object_`; the wire name is `object`.
    ref: str
    object: GitObjectJson


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def pull_from_json(
    data: PullRequestTypeForResponse | PullRequestSimpleTypeForResponse,
    *,
    merged: bool,
    mergeable: bool | None,
) -> PullRequest:
    head_repo = data["head"]["repo"]
    base_repo = data["base"]["repo"]["full_name"]
    head_name = None if head_repo is None else head_repo["full_name"]
    user = data["user"]
    return PullRequest(
        number=data["number"],
        title=data["title"],
        state=data["state"],
        merged=merged,
        draft=data.get("draft", False),
        head_sha=data["head"]["sha"],
        head_ref=data["head"]["ref"],
        head_repo=head_name,
        base_sha=data["base"]["sha"],
        base_ref=data["base"]["ref"],
        author="ghost" if user is None else user["login"],
        is_fork=head_name != base_repo,
        mergeable=mergeable,
        html_url=data["html_url"],
        node_id=data["node_id"],
    )


def comment_from_json(data: IssueCommentTypeForResponse) -> Comment:
    user = data["user"]
    return Comment(
        id=data["id"],
        node_id=data["node_id"],
        body=data.get("body", ""),
        user="ghost" if user is None else user["login"],
        user_type="User" if user is None else user["type"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        html_url=data["html_url"],
    )


def review_from_json(data: PullRequestReviewTypeForResponse) -> Review:
    user = data["user"]
    return Review(
        id=data["id"],
        user="ghost" if user is None else user["login"],
        state=data["state"],
        commit_id=data["commit_id"],
        body=data["body"],
        submitted_at=_when(data.get("submitted_at")),
    )


def deployment_from_json(data: DeploymentTypeForResponse) -> Deployment:
    payload = data["payload"]
    return Deployment(
        id=data["id"],
        ref=data["ref"],
        sha=data["sha"],
        environment=data["environment"],
        description=data["description"],
        payload=payload if isinstance(payload, dict) else {},
        created_at=_when(data["created_at"]),
    )


def issue_from_json(data: IssueTypeForResponse) -> Issue:
    labels = tuple(
        label if isinstance(label, str) else label.get("name", "") for label in data["labels"]
    )
    return Issue(
        number=data["number"],
        title=data["title"],
        state=data["state"],
        body=data.get("body") or "",
        labels=labels,
        html_url=data["html_url"],
        created_at=_when(data["created_at"]),
    )
