"""The typed records `core.github` returns: plain frozen data, no GitHub client attached.

Only the fields the pipeline reads are kept, so the rest of the package never touches GitHub's
JSON and can build these records by hand in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

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


@dataclass(frozen=True, slots=True)
class PullRequest:
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


@dataclass(frozen=True, slots=True)
class Comment:
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


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str | None
    body: str = ""
    submitted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CommitStatus:
    context: str
    state: str
    description: str | None
    target_url: str | None
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class Deployment:
    id: int
    ref: str
    sha: str
    environment: str
    description: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    title: str
    state: str
    body: str
    labels: tuple[str, ...]
    html_url: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    id: int
    status: str | None  # queued, in_progress, completed, waiting, ...
    conclusion: str | None  # success, failure, cancelled, ... once completed
    html_url: str
