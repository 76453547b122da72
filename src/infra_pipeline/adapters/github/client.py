"""The GitHub API, as the pipeline needs it: one repository, typed records, honest retries.

`GitHub` is one method per endpoint the pipeline calls, over `transport.Transport` (retries,
rate limits, request counting, error messages). What the client adds per endpoint:

- Creating calls are never blindly repeated. A 5xx or a timeout on a POST is ambiguous: GitHub
  may have applied the write before failing (it does answer 502 after creating a comment). So
  before repeating a create, the method re-reads what it was about to create (a comment with the
  same body posted since the call began, the ref pointing at the same sha, ...) and returns that
  instead. Callers that must be idempotent across *runs* still look before they create.
- Responses are read as JSON into the small records of `github_models`, typed with githubkit's
  TypedDicts. Parsing them with githubkit's pydantic models would validate the whole payload
  against the 2026-03-10 schema, where one field we never read (a label's `archived_by`, say)
  missing from a GitHub Enterprise answer would fail `get_pull`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from githubkit.exception import RateLimitExceeded, RequestFailed
from githubkit.utils import UNSET

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
from infra_pipeline.core.outbound import Destination
from infra_pipeline.errors import InfraError

from .transport import (
    API_VERSION,
    DEFAULT_API_URL,
    ROUTES,
    Transport,
    graphql_url,
    is_secondary_limit,
    log,
    response_message,
    route_template,
)

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

__all__ = ["API_VERSION", "DEFAULT_API_URL", "ROUTES", "GitHub", "graphql_url", "route_template"]


# GitHub rejects longer commit-status and deployment-status descriptions with a 422.
DESCRIPTION_LIMIT: Final = 140
# How far back a create may look for its own write after an ambiguous failure (clock skew).
_RECOVERY_WINDOW: Final = timedelta(minutes=2)


class GitHub(Transport):
    """The endpoints the pipeline calls, each returning typed records (see the module doc)."""

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
                sent = self._as_sent(body, Destination.COMMENT)
                if review.body == sent and same_commit and _since(review.submitted_at, since):
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

    def find_issue_comment(self, comment_id: int) -> Comment | None:
        """`get_issue_comment`, or None when the comment is gone (deleted)."""

        def fetch() -> Comment | None:
            try:
                response = self._rest.issues.get_comment(self.owner, self.repo, comment_id)
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return None
                raise
            return comment_from_json(response.json())

        return self._call(fetch)

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
                sent = self._as_sent(body, Destination.COMMENT)
                if comment.body == sent and _since(comment.created_at, since):
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

    def add_reaction(self, comment_id: int, content: ReactionContent) -> bool:
        """React to an issue comment (GitHub keeps one reaction per user and content, so a
        repeat is harmless). False when the comment is gone: its author deleted it."""

        def react() -> bool:
            try:
                self._rest.reactions.create_for_issue_comment(
                    self.owner, self.repo, comment_id, data={"content": content}
                )
            except RequestFailed as exc:
                if exc.response.status_code == 404:
                    return False
                raise
            return True

        return self._call(react)

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

    def unminimize_comment(self, node_id: str) -> bool:
        """Unfold a comment `minimize_comment` folded (GraphQL `unminimizeComment`): a
        dashboard current again must not stay hidden as outdated. Best effort, like folding."""
        query = (
            "mutation($id: ID!) { unminimizeComment(input: {subjectId: $id})"
            " { unminimizedComment { isMinimized } } }"
        )
        try:
            data = self._call(lambda: self._gh.graphql.request(query, {"id": node_id}))
            return not data["unminimizeComment"]["unminimizedComment"]["isMinimized"]
        except Exception as exc:  # best effort by contract: never raise
            log.warning("could not unminimize comment %s: %s", node_id, exc)
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
                if exc.response.status_code == 422 and "already exists" in response_message(exc):
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
                shown = self._as_sent(description, Destination.DEPLOYMENT)
                same = deployment.ref == ref and deployment.description == shown
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
                same = issue.title == self._as_sent(title, Destination.ISSUE_TITLE)
                same = same and issue.body == self._as_sent(body, Destination.ISSUE_BODY)
                if same and _since(issue.created_at, since):
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

    def _contents(self, path: str, ref: str) -> Any:
        """The contents API's answer for `path` in `ref` (a file's record, or a directory's
        list of entries), or None when nothing is there."""
        try:
            response = self._rest.repos.get_content(self.owner, self.repo, path.strip("/"), ref=ref)
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise
        return response.json()

    def get_file(self, path: str, ref: str) -> str | None:
        """The text of the file at `path` (from the repository root) in commit or branch `ref`,
        or None when nothing there is a file (no such path, a directory, a submodule)."""

        def fetch() -> str | None:
            data = self._contents(path, ref)
            if data is None or isinstance(data, list) or data["type"] != "file":
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

    def list_directory(self, path: str, ref: str) -> list[tuple[str, bool]] | None:
        """The entries of the directory at `path` in `ref`, each as (path from the repository
        root, is a directory); None when `path` is not a directory there."""

        def fetch() -> list[tuple[str, bool]] | None:
            data = self._contents(path, ref)
            if not isinstance(data, list):
                return None
            return sorted((str(e["path"]), e.get("type") == "dir") for e in data)

        return self._call(fetch)

    # -- organization teams ----------------------------------------------------------------------

    def list_team_members(self, org: str, team_slug: str) -> list[str] | None:
        """The logins of `org/team_slug`'s members (child teams' members included, as GitHub
        lists them), or None when the token cannot read the team: GitHub answers 404 both for
        a team that does not exist and for a secret one, and 403 to a token without the
        organization's `members: read` (the workflow's GITHUB_TOKEN has none)."""

        def fetch() -> list[str] | None:
            try:
                items = list(
                    self._gh.rest.paginate(
                        self._rest.teams.list_members_in_org,
                        lambda response: response.json(),
                        per_page=100,
                        org=org,
                        team_slug=team_slug,
                    )
                )
            except RateLimitExceeded:
                raise  # a 403 that means "wait", not "forbidden"
            except RequestFailed as exc:
                if exc.response.status_code in (403, 404) and not is_secondary_limit(exc):
                    return None
                raise
            return [str(item["login"]) for item in items]

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
