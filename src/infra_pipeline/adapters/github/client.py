"""The GitHub API, as the pipeline needs it: one repository, typed records, honest retries.

A thin layer over githubkit. githubkit sends the requests, authenticates, follows pagination
`Link` headers and spots rate limits; this module adds what a CI job needs on top:

- Every call retries transient failures (5xx, 429, connection errors, timeouts) with exponential
  backoff, and sleeps through rate limits for as long as GitHub asks, up to a bounded total wait
  per client (`max_rate_limit_wait`); past it the call fails with an `InfraError` saying when the
  limit resets. githubkit's own retry and HTTP cache are switched off so that
  `requests` counts every HTTP request exactly (`retries` counts the repeats).
- Creating calls are never blindly repeated. A 5xx or a timeout on a POST is ambiguous: GitHub
  may have applied the write before failing (it does answer 502 after creating a comment). So
  before repeating a create, the method re-reads what it was about to create (a comment with the
  same body posted since the call began, the ref pointing at the same sha, ...) and returns that
  instead. Callers that must be idempotent across *runs* still look before they create.
- Responses are read as JSON into the small records of `github_models`, typed with githubkit's
  TypedDicts. Parsing them with githubkit's pydantic models would validate the whole payload
  against the 2026-03-10 schema, where one field we never read (a label's `archived_by`, say)
  missing from a GitHub Enterprise answer would fail `get_pull`.
- Requests are pinned to REST API version 2022-11-28: the version GitHub assumes when none is
  sent and the only one every supported GitHub Enterprise Server release understands.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

import httpx
from githubkit import GitHub as GitHubKit
from githubkit.exception import (
    GitHubException,
    GraphQLFailed,
    RateLimitExceeded,
    RequestError,
    RequestFailed,
)
from githubkit.response import Response
from githubkit.utils import UNSET
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from infra_pipeline.core.github_models import (
    Comment,
    CommitStatus,
    Deployment,
    DeploymentState,
    GitRefJson,
    Issue,
    IssueState,
    MinimizeReason,
    PullRequest,
    ReactionContent,
    Review,
    ReviewEvent,
    StatusState,
    WorkflowRun,
    comment_from_json,
    deployment_from_json,
    issue_from_json,
    pull_from_json,
    review_from_json,
)
from infra_pipeline.errors import InfraError

if TYPE_CHECKING:
    from githubkit_schemas.v2026_03_10.types import (
        DeploymentTypeForResponse,
        DiffEntryTypeForResponse,
        IssueCommentTypeForResponse,
        IssueTypeForResponse,
        PullRequestReviewTypeForResponse,
        PullRequestSimpleTypeForResponse,
        StatusTypeForResponse,
    )

__all__ = ["API_VERSION", "ROUTES", "GitHub", "graphql_url", "route_template"]

log = logging.getLogger(__name__)

T = TypeVar("T")
J = TypeVar("J")

DEFAULT_API_URL: Final = "https://api.github.com"
API_VERSION: Final = "2022-11-28"
# GitHub rejects longer commit-status and deployment-status descriptions with a 422.
DESCRIPTION_LIMIT: Final = 140
# How far back a create may look for its own write after an ambiguous failure (clock skew).
_RECOVERY_WINDOW: Final = timedelta(minutes=2)

# Every (method, route) this client calls; `requests` is keyed by these templates.
ROUTES: Final[tuple[tuple[str, str], ...]] = (
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("POST", "/repos/{owner}/{repo}/git/refs"),
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}"),
    ("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("POST", "/repos/{owner}/{repo}/git/commits"),
    ("GET", "/repos/{owner}/{repo}/deployments"),
    ("POST", "/repos/{owner}/{repo}/deployments"),
    ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("GET", "/repos/{owner}/{repo}/issues"),
    ("POST", "/repos/{owner}/{repo}/issues"),
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"),
    ("POST", "/graphql"),
)


def _template_regex(template: str) -> re.Pattern[str]:
    # A git ref ("heads/infra-lock/platform") and a file path span several path segments.
    def param(match: re.Match[str]) -> str:
        return ".+" if match.group(1) in ("ref", "path") else "[^/]+"

    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", param, re.escape(template)) + "$")


# Longest literal text first, so ".../issues/comments/{id}" wins over ".../issues/{number}".
_MATCHERS: Final = sorted(
    {(template, _template_regex(template)) for _, template in ROUTES},
    key=lambda item: -len(re.sub(r"\{\w+\}", "", item[0])),
)


def route_template(path: str) -> str:
    """The route template of an API path ("/repos/a/b/pulls/7" → "/repos/{owner}/{repo}/pulls/
    {pull_number}"); an unknown path is returned as it is."""
    for template, regex in _MATCHERS:
        if regex.match(path):
            return template
    return path


def graphql_url(api_url: str) -> str:
    """GraphQL lives beside REST: `<api>/graphql`, or `<host>/api/graphql` on GitHub Enterprise
    Server, whose REST base ends in `/api/v3` (the rule githubkit and octokit apply)."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base.removesuffix("/v3") + "/graphql"
    return base + "/graphql"


class GitHub:
    """One repository on GitHub (or GitHub Enterprise Server), through a counted, retrying
    client. Build it with `GitHub.from_env()` in CI; tests pass a stand-in's URL."""

    def __init__(
        self,
        token: str,
        repository: str,
        api_url: str = DEFAULT_API_URL,
        *,
        max_rate_limit_wait: float = 60.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = 30.0,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise InfraError(
                f"GITHUB_REPOSITORY must look like owner/name, got {repository!r}",
                "GitHub Actions sets it; outside Actions export GITHUB_REPOSITORY=owner/name.",
            )
        self.owner, self.repo, self.repository = owner, name, repository
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url(self.api_url)
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_attempts = max_attempts
        self.requests: Counter[tuple[str, str]] = Counter()
        self.retries: Counter[tuple[str, str]] = Counter()
        self.rate_limit_waited = 0.0
        self._sleep = sleep
        self._now = now
        self._lock = threading.Lock()
        self._base_path = httpx.URL(self.api_url).path.rstrip("/")
        self._graphql_path = httpx.URL(self.graphql_url).path
        self._gh = GitHubKit(
            token,
            base_url=self.api_url,
            user_agent="infra-pipeline",
            timeout=timeout,
            http_cache=False,
            auto_retry=False,
            event_hooks={"request": [self._on_request]},
        )
        self._rest = self._gh.rest
        # One HTTP connection pool for the client's life (githubkit opens one per request
        # otherwise); threads other than this one still work, with a client per request.
        self._gh.__enter__()  # type: ignore[no-untyped-call]  # githubkit leaves it unannotated

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] = os.environ,
        *,
        max_rate_limit_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> GitHub:
        """The repository and credentials GitHub Actions provides (`GITHUB_TOKEN`,
        `GITHUB_REPOSITORY`, `GITHUB_API_URL`)."""
        token = env.get("GITHUB_TOKEN", "")
        if not token:
            raise InfraError(
                "GITHUB_TOKEN is not set, so infra cannot talk to GitHub",
                "In the workflow step add `env: GITHUB_TOKEN: ${{ github.token }}`; locally run "
                "`export GITHUB_TOKEN=$(gh auth token)`.",
            )
        repository = env.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise InfraError(
                "GITHUB_REPOSITORY is not set, so infra does not know which repository to use",
                "GitHub Actions sets it; outside Actions export GITHUB_REPOSITORY=owner/name.",
            )
        return cls(
            token,
            repository,
            env.get("GITHUB_API_URL") or DEFAULT_API_URL,
            max_rate_limit_wait=max_rate_limit_wait,
            sleep=sleep,
        )

    def close(self) -> None:
        self._gh.__exit__()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- pull requests -------------------------------------------------------------------------

    def get_pull(self, number: int) -> PullRequest:
        data = self._call(lambda: self._rest.pulls.get(self.owner, self.repo, number).json())
        return pull_from_json(data, merged=data["merged"], mergeable=data["mergeable"])

    def list_pull_files(self, number: int) -> list[str]:
        """Every path the pull request touches, renames' old paths included (GitHub lists at most
        3000 files)."""
        entries: list[DiffEntryTypeForResponse] = self._paginate(
            self._rest.pulls.list_files, owner=self.owner, repo=self.repo, pull_number=number
        )
        paths: dict[str, None] = {}
        for entry in entries:
            paths[entry["filename"]] = None
            if previous := entry.get("previous_filename"):
                paths[previous] = None
        return list(paths)

    def list_pulls_for_commit(self, sha: str) -> list[PullRequest]:
        """Pull requests whose head is `sha`, or that were merged as `sha`. The list endpoint
        does not say whether a pull request is mergeable, so `mergeable` is None here."""
        items: list[PullRequestSimpleTypeForResponse] = self._paginate(
            self._rest.repos.list_pull_requests_associated_with_commit,
            owner=self.owner,
            repo=self.repo,
            commit_sha=sha,
        )
        return [pull_from_json(i, merged=i["merged_at"] is not None, mergeable=None) for i in items]

    def get_pull_diff(self, number: int) -> str:
        path = f"/repos/{self.owner}/{self.repo}/pulls/{number}"
        accept = {"Accept": "application/vnd.github.diff"}
        return self._call(lambda: self._gh.request("GET", path, headers=accept).text)

    def list_reviews(self, number: int) -> list[Review]:
        items: list[PullRequestReviewTypeForResponse] = self._paginate(
            self._rest.pulls.list_reviews, owner=self.owner, repo=self.repo, pull_number=number
        )
        return [review_from_json(i) for i in items]

    def create_review(
        self,
        number: int,
        body: str,
        event: ReviewEvent = "COMMENT",
        commit_id: str | None = None,
    ) -> int:
        """Submit a review; returns its id."""
        since = self._now() - _RECOVERY_WINDOW

        def create() -> int:
            response = self._rest.pulls.create_review(
                self.owner,
                self.repo,
                number,
                body=body,
                event=event,
                commit_id=UNSET if commit_id is None else commit_id,
            )
            return response.json()["id"]

        def recover() -> int | None:
            for review in reversed(self.list_reviews(number)):
                same_commit = commit_id is None or review.commit_id == commit_id
                if review.body == body and same_commit and _since(review.submitted_at, since):
                    return review.id
            return None

        return self._call(create, recover=recover)

    # -- issue comments --------------------------------------------------------------------------

    def list_issue_comments(self, number: int) -> list[Comment]:
        items: list[IssueCommentTypeForResponse] = self._paginate(
            self._rest.issues.list_comments, owner=self.owner, repo=self.repo, issue_number=number
        )
        return [comment_from_json(i) for i in items]

    def get_issue_comment(self, comment_id: int) -> Comment:
        data = self._call(
            lambda: self._rest.issues.get_comment(self.owner, self.repo, comment_id).json()
        )
        return comment_from_json(data)

    def create_issue_comment(self, number: int, body: str) -> Comment:
        """Post a comment on an issue or pull request. After an ambiguous failure it first looks
        for a comment with this exact body posted since the call began, and returns that."""
        since = self._now() - _RECOVERY_WINDOW

        def create() -> Comment:
            response = self._rest.issues.create_comment(
                self.owner, self.repo, number, data={"body": body}
            )
            return comment_from_json(response.json())

        def recover() -> Comment | None:
            for comment in reversed(self.list_issue_comments(number)):
                if comment.body == body and _since(comment.created_at, since):
                    return comment
            return None

        return self._call(create, recover=recover)

    def update_issue_comment(self, comment_id: int, body: str) -> Comment:
        data = self._call(
            lambda: self._rest.issues.update_comment(
                self.owner, self.repo, comment_id, data={"body": body}
            ).json()
        )
        return comment_from_json(data)

    def delete_issue_comment(self, comment_id: int) -> bool:
        """Delete a comment: True if deleted, False if it was already gone (so two jobs
        cleaning up the same duplicate both succeed)."""

        def delete() -> bool:
            try:
                self._rest.issues.delete_comment(self.owner, self.repo, comment_id)
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return False
                raise
            return True

        return self._call(delete)

    def add_reaction(self, comment_id: int, content: ReactionContent) -> None:
        """React to an issue comment (GitHub keeps one reaction per user and content, so a
        repeat is harmless)."""
        self._call(
            lambda: self._rest.reactions.create_for_issue_comment(
                self.owner, self.repo, comment_id, data={"content": content}
            )
        )

    def minimize_comment(self, node_id: str, classifier: MinimizeReason = "OUTDATED") -> bool:
        """Fold a comment away (GraphQL `minimizeComment`). Best effort: a dashboard that stays
        unfolded is cosmetic, so any failure returns False instead of raising."""
        query = (
            "mutation($id: ID!, $classifier: ReportedContentClassifiers!) {"
            " minimizeComment(input: {subjectId: $id, classifier: $classifier})"
            " { minimizedComment { isMinimized } } }"
        )
        variables = {"id": node_id, "classifier": classifier}
        try:
            data = self._call(lambda: self._gh.graphql.request(query, variables))
            return bool(data["minimizeComment"]["minimizedComment"]["isMinimized"])
        except Exception as exc:  # best effort by contract: never raise
            log.warning("could not minimize comment %s: %s", node_id, exc)
            return False

    # -- commit statuses -------------------------------------------------------------------------

    def create_status(
        self,
        sha: str,
        context: str,
        state: StatusState,
        description: str,
        target_url: str | None = None,
    ) -> None:
        """Set a commit status (the latest per context wins, so a repeat is harmless)."""
        self._call(
            lambda: self._rest.repos.create_commit_status(
                self.owner,
                self.repo,
                sha,
                state=state,
                context=context,
                description=_truncate(description),
                target_url=UNSET if target_url is None else target_url,
            )
        )

    def list_statuses(self, sha: str) -> list[CommitStatus]:
        """Every status set on `sha`, newest first (superseded ones included, as GitHub
        lists them)."""
        items: list[StatusTypeForResponse] = self._paginate(
            self._rest.repos.list_commit_statuses_for_ref, owner=self.owner, repo=self.repo, ref=sha
        )
        return [
            CommitStatus(
                context=i["context"],
                state=i["state"],
                description=i["description"],
                target_url=i["target_url"],
                created_at=i["created_at"],
            )
            for i in items
        ]

    # -- permissions ----------------------------------------------------------------------------

    def get_permission(self, username: str) -> str:
        """The user's role on the repository: admin, maintain, write, triage, read, a custom
        role's name, or "none" (also for users GitHub does not know)."""

        def fetch() -> str:
            try:
                data = self._rest.repos.get_collaborator_permission_level(
                    self.owner, self.repo, username
                ).json()
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return "none"
                raise
            return data.get("role_name") or data["permission"]

        return self._call(fetch)

    # -- git refs and objects (locks) -------------------------------------------------------------

    def create_ref(self, ref: str, sha: str) -> bool:
        """Create `ref` at `sha`: True if created, False if the ref already exists (GitHub's
        create is atomic, which is what makes a ref usable as a lock)."""
        full = _full_ref(ref)

        def create() -> bool:
            try:
                self._rest.git.create_ref(self.owner, self.repo, data={"ref": full, "sha": sha})
            except RequestFailed as exc:
                if exc.response.status_code == 422 and "already exists" in _message(exc):
                    return False
                raise
            return True

        def recover() -> bool | None:
            return True if self.get_ref(full) == sha else None

        return self._call(create, recover=recover)

    def get_ref(self, ref: str) -> str | None:
        """The sha `ref` points at, or None when there is no such ref."""

        def fetch() -> str | None:
            try:
                data = self._rest.git.get_ref(self.owner, self.repo, _short_ref(ref)).json()
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return None
                raise
            return cast(GitRefJson, data)["object"]["sha"]

        return self._call(fetch)

    def delete_ref(self, ref: str) -> bool:
        """Delete `ref`: True if deleted, False if it did not exist."""

        def delete() -> bool:
            try:
                self._rest.git.delete_ref(self.owner, self.repo, _short_ref(ref))
            except RequestFailed as exc:
                if exc.response.status_code in (404, 422):
                    return False
                raise
            return True

        return self._call(delete)

    def list_matching_refs(self, prefix: str) -> list[tuple[str, str]]:
        """(ref, sha) of every ref starting with `prefix` ("refs/heads/infra-lock/")."""
        response = self._call(
            lambda: self._rest.git.list_matching_refs(self.owner, self.repo, _short_ref(prefix))
        )
        items = cast(list[GitRefJson], response.json())
        return [(i["ref"], i["object"]["sha"]) for i in items]

    def get_commit_tree(self, sha: str) -> str:
        data = self._call(lambda: self._rest.git.get_commit(self.owner, self.repo, sha).json())
        return data["tree"]["sha"]

    def get_commit_message(self, sha: str) -> str:
        data = self._call(lambda: self._rest.git.get_commit(self.owner, self.repo, sha).json())
        return data["message"]

    def create_commit(self, message: str, tree: str, parents: Iterable[str]) -> str:
        """Create a commit object (no ref moves); returns its sha. A repeat after an ambiguous
        failure can leave an unreferenced commit behind, which is harmless."""
        parent_list = list(parents)
        response = self._call(
            lambda: self._rest.git.create_commit(
                self.owner, self.repo, message=message, tree=tree, parents=parent_list
            )
        )
        return response.json()["sha"]

    # -- deployments -----------------------------------------------------------------------------

    def create_deployment(
        self, ref: str, environment: str, description: str, payload: Mapping[str, Any]
    ) -> int:
        """Record a deployment of `ref` (no auto-merge, no required contexts); returns its id."""
        since = self._now() - _RECOVERY_WINDOW

        def create() -> int:
            response = self._rest.repos.create_deployment(
                self.owner,
                self.repo,
                ref=ref,
                environment=environment,
                description=description,
                payload=dict(payload),
                auto_merge=False,
                required_contexts=[],
            ).json()
            if "id" not in response:  # 202: GitHub merged the base branch instead
                raise InfraError(
                    f"GitHub did not create a deployment of {ref}: {response.get('message')}",
                    "Deploy a ref that is up to date with its base branch.",
                )
            return response["id"]

        def recover() -> int | None:
            for deployment in self.list_deployments(environment):
                same = deployment.ref == ref and deployment.description == description
                if same and _since(deployment.created_at, since):
                    return deployment.id
            return None

        return self._call(create, recover=recover)

    def create_deployment_status(
        self, deployment_id: int, state: DeploymentState, log_url: str, description: str
    ) -> None:
        self._call(
            lambda: self._rest.repos.create_deployment_status(
                self.owner,
                self.repo,
                deployment_id,
                state=state,
                log_url=log_url,
                description=_truncate(description),
            )
        )

    def list_deployments(self, environment: str | None = None) -> list[Deployment]:
        """Deployments, newest first, optionally of one environment."""
        filters: dict[str, Any] = {} if environment is None else {"environment": environment}
        items: list[DeploymentTypeForResponse] = self._paginate(
            self._rest.repos.list_deployments, owner=self.owner, repo=self.repo, **filters
        )
        return [deployment_from_json(i) for i in items]

    # -- issues (drift reports) ------------------------------------------------------------------

    def list_issues(
        self, labels: Iterable[str], state: Literal["open", "closed", "all"] = "all"
    ) -> list[Issue]:
        """Issues carrying every one of `labels` (pull requests, which GitHub lists as issues
        too, are left out)."""
        items: list[IssueTypeForResponse] = self._paginate(
            self._rest.issues.list_for_repo,
            owner=self.owner,
            repo=self.repo,
            labels=",".join(labels),
            state=state,
        )
        return [issue_from_json(i) for i in items if "pull_request" not in i]

    def create_issue(self, title: str, body: str, labels: Iterable[str]) -> Issue:
        wanted = list(labels)
        since = self._now() - _RECOVERY_WINDOW

        def create() -> Issue:
            response = self._rest.issues.create(
                self.owner, self.repo, title=title, body=body, labels=list(wanted)
            )
            return issue_from_json(response.json())

        def recover() -> Issue | None:
            for issue in self.list_issues(wanted, state="open"):
                if issue.title == title and issue.body == body and _since(issue.created_at, since):
                    return issue
            return None

        return self._call(create, recover=recover)

    def update_issue(
        self,
        number: int,
        *,
        body: str | None = None,
        state: IssueState | None = None,
        title: str | None = None,
    ) -> Issue:
        response = self._call(
            lambda: self._rest.issues.update(
                self.owner,
                self.repo,
                number,
                body=UNSET if body is None else body,
                state=UNSET if state is None else state,
                title=UNSET if title is None else title,
            )
        )
        return issue_from_json(response.json())

    # -- repository contents -------------------------------------------------------------------

    def get_file(self, path: str, ref: str) -> str | None:
        """The text of the file at `path` (from the repository root) in commit or branch `ref`,
        or None when nothing there is a file (no such path, a directory, a submodule)."""

        def fetch() -> str | None:
            try:
                response = self._rest.repos.get_content(
                    self.owner, self.repo, path.strip("/"), ref=ref
                )
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return None
                raise
            data = response.json()
            if isinstance(data, list) or data["type"] != "file":
                return None
            if data.get("encoding") != "base64":  # over 1 MB: GitHub leaves `content` empty
                raise InfraError(
                    f"{path} at {ref[:12]} is too large to read through the contents API",
                    "keep the file under 1 MB",
                )
            try:
                return base64.b64decode(data["content"]).decode("utf-8")
            except (ValueError, UnicodeDecodeError) as exc:
                raise InfraError(f"{path} at {ref[:12]} is not UTF-8 text: {exc}") from exc

        return self._call(fetch)

    # -- workflow runs ---------------------------------------------------------------------------

    def get_workflow_run(self, run_id: int) -> WorkflowRun | None:
        def fetch() -> WorkflowRun | None:
            try:
                data = self._rest.actions.get_workflow_run(self.owner, self.repo, run_id).json()
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return None
                raise
            return WorkflowRun(
                id=data["id"],
                status=data["status"],
                conclusion=data["conclusion"],
                html_url=data["html_url"],
            )

        return self._call(fetch)

    # -- the HTTP seam ---------------------------------------------------------------------------

    def _on_request(self, request: httpx.Request) -> None:
        # Every request githubkit sends passes here, pagination pages and GraphQL included.
        request.headers["X-GitHub-Api-Version"] = API_VERSION
        with self._lock:
            self.requests[(request.method, self._route(request.url.path))] += 1

    def _route(self, path: str) -> str:
        if path == self._graphql_path:
            return "/graphql"
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path) :]
        return route_template(path)

    def _paginate(self, request: Callable[..., Response[Any, list[J]]], **params: Any) -> list[J]:
        """All pages of a list endpoint (100 a page), following GitHub's `Link` headers. A
        failure on a later page retries the whole listing: reads are safe to repeat."""

        def as_json(response: Response[Any, Any]) -> list[J]:
            return cast("list[J]", response.json())

        return self._call(
            lambda: list(self._gh.rest.paginate(request, as_json, per_page=100, **params))
        )

    def _call(self, op: Callable[[], T], *, recover: Callable[[], T | None] | None = None) -> T:
        """Run `op` with retries. After a failure that may have been applied (5xx, timeout),
        `recover` is asked first whether the write is already there."""
        maybe_applied = False
        try:
            for attempt in self._retrying():
                with attempt:
                    if maybe_applied and recover is not None:
                        found = recover()
                        if found is not None:
                            return found
                    try:
                        return op()
                    except GitHubException as exc:
                        maybe_applied = _may_have_been_applied(exc)
                        raise
        except GitHubException as exc:
            raise self._error(exc) from exc
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    def _retrying(self) -> Retrying:
        failures = 0  # transient failures of this call, rate limits aside
        backoff = wait_exponential(multiplier=0.5, max=8)

        def wait(state: RetryCallState) -> float:
            delay = _rate_limit_delay(_outcome(state))
            return backoff(state) if delay is None else max(delay, 1.0)

        def stop(state: RetryCallState) -> bool:
            nonlocal failures
            if _rate_limit_delay(_outcome(state)) is not None:
                return self.rate_limit_waited + state.upcoming_sleep > self.max_rate_limit_wait
            failures += 1
            return failures >= self.max_attempts

        def before_sleep(state: RetryCallState) -> None:
            exc = _outcome(state)
            request = _request_of(exc)
            key = ("?", "?") if request is None else (request.method, self._route(request.url.path))
            with self._lock:
                self.retries[key] += 1
                if _rate_limit_delay(exc) is not None:
                    self.rate_limit_waited += state.upcoming_sleep
            log.warning(
                "GitHub: %s %s failed (%s); retrying in %.1fs",
                *key,
                _describe(exc),
                state.upcoming_sleep,
            )

        return Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _error(self, exc: GitHubException) -> InfraError:
        """Turn what githubkit raised, after retries, into a message a user can act on."""
        request = _request_of(exc)
        what = "GitHub" if request is None else f"{request.method} {request.url.path}"
        if (delay := _rate_limit_delay(exc)) is not None:
            resume = (self._now() + timedelta(seconds=delay)).strftime("%H:%M:%S UTC")
            return InfraError(
                f"GitHub rate limit hit on {what}: it asks to wait {delay:.0f}s more, beyond the "
                f"{self.max_rate_limit_wait:.0f}s this run may spend waiting "
                f"({self.rate_limit_waited:.0f}s used)",
                f"Re-run after {resume}; if it keeps happening, fewer runs at once or a token "
                "with a higher limit (a GitHub App) will help.",
            )
        if isinstance(exc, RequestFailed):
            status = exc.response.status_code
            message = f"GitHub answered {status} to {what}: {_message(exc)}"
            if status == 401:
                hint = "The token was rejected: check GITHUB_TOKEN (expired or revoked?)."
            elif status == 403:
                hint = (
                    "The token lacks a permission: give the workflow `permissions:` "
                    "contents/pull-requests/issues/statuses/deployments: write as needed."
                )
            elif status == 404:
                hint = (
                    f"Check that {self.repository} exists at {self.api_url} and the token "
                    "can see it (GITHUB_REPOSITORY, GITHUB_API_URL)."
                )
            elif status >= 500:
                message += f" ({self.max_attempts} attempts)"
                hint = "GitHub seems unwell: see https://www.githubstatus.com and re-run the job."
            else:
                hint = "GitHub refused the request; re-run with --debug and report it if it stays."
            return InfraError(message, hint)
        if isinstance(exc, GraphQLFailed):
            errors = "; ".join(e.message for e in exc.response.errors or [])
            return InfraError(f"GitHub GraphQL error: {errors}", "Re-run; report it if it stays.")
        return InfraError(
            f"Could not reach GitHub at {self.api_url}: {_describe(exc)}",
            "Check GITHUB_API_URL and the runner's network (proxy, DNS).",
        )


# -- retry policy -------------------------------------------------------------------------------


def _outcome(state: RetryCallState) -> BaseException | None:
    return None if state.outcome is None else state.outcome.exception()


def _message(exc: RequestFailed) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return exc.response.text[:200]
    return str(body.get("message", "")) if isinstance(body, dict) else str(body)[:200]


def _is_secondary_limit(exc: RequestFailed) -> bool:
    status = exc.response.status_code
    return status == 429 or (status == 403 and "secondary rate limit" in _message(exc).lower())


def _rate_limit_delay(exc: BaseException | None) -> float | None:
    """Seconds GitHub asks us to wait, or None when `exc` is not a rate limit."""
    if isinstance(exc, RateLimitExceeded):  # githubkit read Retry-After / X-RateLimit-Reset
        return exc.retry_after.total_seconds()
    if isinstance(exc, RequestFailed) and _is_secondary_limit(exc):
        return 60.0  # no header to go by: GitHub's documented advice is a minute
    return None


def _is_transient(exc: BaseException) -> bool:
    if _rate_limit_delay(exc) is not None:
        return True
    if isinstance(exc, RequestFailed):
        return exc.response.status_code >= 500
    return isinstance(exc, RequestError)  # connection errors and timeouts


def _may_have_been_applied(exc: GitHubException) -> bool:
    """Whether GitHub may have carried out a request that failed."""
    if _rate_limit_delay(exc) is not None:
        return False  # refused up front
    if isinstance(exc, RequestFailed):
        return exc.response.status_code >= 500
    if isinstance(exc, RequestError):
        # A connection that was never made sent nothing.
        return not isinstance(exc.exc, httpx.ConnectError | httpx.ConnectTimeout)
    return False


def _request_of(exc: BaseException | None) -> httpx.Request | None:
    if isinstance(exc, RequestFailed):
        return exc.request
    if isinstance(exc, RequestError) and isinstance(exc.exc, httpx.RequestError):
        try:
            return exc.exc.request
        except RuntimeError:  # httpx raises when the error never got a request
            return None
    return None


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, RequestFailed):
        return f"{exc.response.status_code} {_message(exc)[:120]}".strip()
    if isinstance(exc, RequestError):
        return f"{type(exc.exc).__name__}: {exc.exc}"
    return repr(exc)


# -- JSON → records -------------------------------------------------------------------------------


def _truncate(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def _short_ref(ref: str) -> str:
    # The ref endpoints take "heads/x" in the path, while create takes "refs/heads/x".
    return ref.removeprefix("refs/")


def _since(when: datetime | None, since: datetime) -> bool:
    return when is None or when >= since
