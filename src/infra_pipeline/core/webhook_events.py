"""The event a job runs for (the JSON file at `GITHUB_EVENT_PATH`), parsed once into typed
records shaped like GitHub's webhook payloads.

Only the fields the pipeline reads are kept; everything else GitHub sends is ignored, so a new
field in a payload never breaks a job. A payload that lacks a field the pipeline needs is one
`InfraError` naming the field, raised before anything is written, not a `KeyError` in the
middle of a flow. `parse_event` is the one place the payload is read; the flows get these
records. Pure: the caller reads the file (`adapters.actions_env.ActionsEnv.payload`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InfraError
from .github_models import PullRequest


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Repository(_Payload):
    full_name: str
    default_branch: str = Field(min_length=1)  # where infra.yaml's policy is read from


class Account(_Payload):
    login: str
    type: str = "User"  # "User", "Bot" or "Organization"


class RepoName(_Payload):
    full_name: str


class HeadBranch(_Payload):
    sha: str
    ref: str
    repo: RepoName | None  # None when the fork was deleted


class BaseBranch(_Payload):
    sha: str
    ref: str
    repo: RepoName


class PullRequestData(_Payload):
    """`pull_request` of a `pull_request` event: the pull request as it was when it fired."""

    number: int
    title: str
    state: str
    draft: bool = False
    merged: bool | None = None
    mergeable: bool | None = None  # None while GitHub is still computing it
    head: HeadBranch
    base: BaseBranch
    user: Account | None  # None when the account was deleted
    html_url: str
    node_id: str

    def record(self) -> PullRequest:
        """The same record the API's `get_pull` returns."""
        head_repo = None if self.head.repo is None else self.head.repo.full_name
        return PullRequest(
            number=self.number,
            title=self.title,
            state=self.state,
            merged=bool(self.merged),
            draft=self.draft,
            head_sha=self.head.sha,
            head_ref=self.head.ref,
            head_repo=head_repo,
            base_sha=self.base.sha,
            base_ref=self.base.ref,
            author="ghost" if self.user is None else self.user.login,
            is_fork=head_repo != self.base.repo.full_name,
            mergeable=self.mergeable,
            html_url=self.html_url,
            node_id=self.node_id,
        )


class IssueData(_Payload):
    number: int
    # Present (links to the pull request) only when the issue is a pull request.
    pull_request: dict[str, Any] | None = None

    @property
    def is_pull_request(self) -> bool:
        return bool(self.pull_request)


class CommentData(_Payload):
    id: int
    body: str | None = ""
    user: Account


class MergeGroupData(_Payload):
    head_sha: str
    base_sha: str
    head_ref: str  # refs/heads/gh-readonly-queue/<base>/pr-<number>-<base sha>
    base_ref: str = ""

    @property
    def branch(self) -> str:
        return self.base_ref.removeprefix("refs/heads/") or "the default branch"


class PullRequestEvent(_Payload):
    name: ClassVar[str] = "pull_request"
    action: str
    pull_request: PullRequestData
    repository: Repository


class IssueCommentEvent(_Payload):
    name: ClassVar[str] = "issue_comment"
    action: str
    issue: IssueData
    comment: CommentData
    repository: Repository


class MergeGroupEvent(_Payload):
    name: ClassVar[str] = "merge_group"
    action: str
    merge_group: MergeGroupData
    repository: Repository


class PushEvent(_Payload):
    name: ClassVar[str] = "push"
    ref: str
    after: str = ""
    repository: Repository

    @property
    def on_default_branch(self) -> bool:
        return self.ref == f"refs/heads/{self.repository.default_branch}"


class WorkflowDispatchEvent(_Payload):
    name: ClassVar[str] = "workflow_dispatch"
    ref: str
    inputs: dict[str, Any] | None = None  # the Run workflow form's `command` and `layer`
    repository: Repository

    @property
    def on_default_branch(self) -> bool:
        return self.ref == f"refs/heads/{self.repository.default_branch}"

    @property
    def command(self) -> str:
        return str((self.inputs or {}).get("command") or "plan")

    @property
    def layer(self) -> str:
        return str((self.inputs or {}).get("layer") or "all")


class ScheduleEvent(_Payload):
    """Not a webhook: Actions raises it itself; nothing in it is read but the cron line."""

    name: ClassVar[str] = "schedule"
    schedule: str = ""


Event = (
    PullRequestEvent
    | IssueCommentEvent
    | MergeGroupEvent
    | PushEvent
    | WorkflowDispatchEvent
    | ScheduleEvent
)

EVENT_TYPES: Mapping[str, type[Event]] = {
    kind.name: kind
    for kind in (
        PullRequestEvent,
        IssueCommentEvent,
        MergeGroupEvent,
        PushEvent,
        WorkflowDispatchEvent,
        ScheduleEvent,
    )
}


def parse_event(name: str, payload: Mapping[str, Any]) -> Event:
    """The payload of event `name` as its record; a missing or mistyped field is an
    `InfraError` that names every such field."""
    kind = EVENT_TYPES.get(name)
    if kind is None:
        raise InfraError(
            f"`infra` has no reader for {name or 'an unnamed'} events",
            "run `infra event` from the workflow `infra init` writes (ci.yml)",
        )
    try:
        return kind.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'the payload'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InfraError(
            f"the {name} event payload is not what GitHub sends: {problems}",
            "run `infra event` from the workflow GitHub starts for the event; "
            "GITHUB_EVENT_PATH must be the file GitHub Actions wrote",
        ) from exc
