"""What the stand-in remembers about each repository. Plain records, mutated under one lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


@dataclass
class User:
    login: str
    type: str = "User"  # "Bot" for apps such as github-actions[bot]
    id: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            self.id = int(fake_sha("user", self.login)[:7], 16)


@dataclass
class FileChange:
    filename: str
    status: str = "modified"  # added, removed, modified, renamed, ...
    previous_filename: str | None = None
    additions: int = 1
    deletions: int = 1


@dataclass
class Pull:
    number: int
    title: str
    head_sha: str
    base_sha: str
    head_ref: str
    base_ref: str
    author: User
    files: list[FileChange]
    draft: bool = False
    fork: bool = False
    head_repo: str | None = None  # full name; None = the fork was deleted
    state: str = "open"
    merged: bool = False
    mergeable: bool | None = True
    merge_commit_sha: str | None = None
    diff: str | None = None
    body: str = ""
    created_at: datetime = field(default_factory=now)
    node_id: str = ""


@dataclass
class IssueRecord:
    number: int
    title: str
    body: str
    labels: list[str]
    author: User
    state: str = "open"
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None


@dataclass
class Reaction:
    id: int
    user: User
    content: str
    created_at: datetime = field(default_factory=now)


@dataclass
class CommentRecord:
    id: int
    issue_number: int
    body: str
    user: User
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    minimized_reason: str | None = None  # set by the GraphQL minimizeComment mutation
    reactions: list[Reaction] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return f"IC_kwDOstandin{self.id}"

    @property
    def minimized(self) -> bool:
        return self.minimized_reason is not None


@dataclass
class StatusRecord:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: User
    created_at: datetime = field(default_factory=now)


@dataclass
class ReviewRecord:
    id: int
    pull_number: int
    user: User
    body: str
    state: str
    commit_id: str
    submitted_at: datetime | None = field(default_factory=now)


@dataclass
class DeploymentStatusRecord:
    id: int
    state: str
    description: str
    log_url: str | None
    environment_url: str | None
    creator: User
    created_at: datetime = field(default_factory=now)


@dataclass
class DeploymentRecord:
    id: int
    ref: str
    sha: str
    environment: str
    description: str | None
    payload: dict[str, Any]
    task: str
    creator: User
    auto_merge: bool
    required_contexts: list[str] | None
    created_at: datetime = field(default_factory=now)
    statuses: list[DeploymentStatusRecord] = field(default_factory=list)


@dataclass
class CommitRecord:
    sha: str
    message: str
    tree: str
    parents: list[str]
    created_at: datetime = field(default_factory=now)


@dataclass
class WorkflowRunRecord:
    id: int
    status: str
    conclusion: str | None
    head_sha: str
    event: str
    name: str
    html_url: str


@dataclass
class RepoState:
    full_name: str
    id: int
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, IssueRecord] = field(default_factory=dict)
    comments: dict[int, CommentRecord] = field(default_factory=dict)
    statuses: list[StatusRecord] = field(default_factory=list)
    reviews: list[ReviewRecord] = field(default_factory=list)
    deployments: list[DeploymentRecord] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    commits: dict[str, CommitRecord] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> role name
    workflow_runs: dict[int, WorkflowRunRecord] = field(default_factory=dict)
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # commit sha -> path -> text

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/")[1]

    def next_number(self) -> int:
        # Issues and pull requests share one sequence, as on GitHub.
        return max([0, *self.pulls, *self.issues]) + 1

    def ensure_commit(self, sha: str, message: str = "commit") -> CommitRecord:
        if sha not in self.commits:
            self.commits[sha] = CommitRecord(sha, message, fake_sha("tree", sha), [])
        return self.commits[sha]
