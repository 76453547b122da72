"""One handler per REST operation the stand-in serves, keyed by GitHub's operationId.

Handlers see a validated request (`Call`) and the repository's state, and answer as GitHub
does: the status codes, the error messages the client keys on ("Reference already exists"),
pagination with a `Link` header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from standin.state import (
    CommentRecord,
    CommitRecord,
    DeploymentRecord,
    DeploymentStatusRecord,
    IssueRecord,
    Reaction,
    RepoState,
    ReviewRecord,
    StatusRecord,
    User,
    fake_sha,
    now,
)

if TYPE_CHECKING:
    from standin.server import GitHubStandIn

DOCS = "https://docs.github.com/rest"
SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


@dataclass
class Call:
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]  # lower-cased names
    actor: User
    repo: RepoState
    self_url: str  # absolute URL of this request without the query string

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def int_param(self, name: str) -> int:
        return int(self.params[name])


def error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return Reply(status, body)


def not_found() -> Reply:
    return error(404, "Not Found")


def paginate(call: Call, items: list[Any], render: Callable[[Any], Any] | None = None) -> Reply:
    """GitHub's page-number pagination: `per_page` (default 30, at most 100), `page`, and a
    `Link` header with next/last (and first/prev past page 1). `render`, when given, turns
    only the page's items into JSON (a 20,000-file PR must not render every file per page)."""
    per_page = min(int(call.arg("per_page", "30") or 30), 100)
    page = max(int(call.arg("page", "1") or 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    if render is not None:
        chunk = [render(item) for item in chunk]

    def link(target: int, rel: str) -> str:
        query = {k: v[-1] for k, v in call.query.items()}
        query.update(per_page=str(per_page), page=str(target))
        return f'<{call.self_url}?{urlencode(query)}>; rel="{rel}"'

    links = []
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    return Reply(200, chunk, {"Link": ", ".join(links)} if links else {})


Handler = Callable[["GitHubStandIn", Call], Reply]
HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[operation_id] = function
        return function

    return register


# -- pull requests ------------------------------------------------------------------------------


def _diff(call: Call) -> str:
    pull = call.repo.pulls[call.int_param("pull_number")]
    if pull.diff is not None:
        return pull.diff
    parts = []
    for change in pull.files:
        old = change.previous_filename or change.filename
        parts.append(
            f"diff --git a/{old} b/{change.filename}\n--- a/{old}\n+++ b/{change.filename}\n"
            f"@@ -1 +1 @@\n-old {change.filename}\n+new {change.filename}\n"
        )
    return "".join(parts)


@handles("pulls/get")
def get_pull(gh: GitHubStandIn, call: Call) -> Reply:
    pull = call.repo.pulls.get(call.int_param("pull_number"))
    if pull is None:
        return not_found()
    if "application/vnd.github.diff" in call.headers.get("accept", ""):
        return Reply(200, _diff(call), content_type="text/x-diff; charset=utf-8")
    return Reply(200, gh.render.pull(call.repo, pull))


@handles("pulls/list-files")
def list_pull_files(gh: GitHubStandIn, call: Call) -> Reply:
    pull = call.repo.pulls.get(call.int_param("pull_number"))
    if pull is None:
        return not_found()
    return paginate(call, pull.files, lambda f: gh.render.file(call.repo, pull, f))


@handles("repos/list-pull-requests-associated-with-commit")
def pulls_for_commit(gh: GitHubStandIn, call: Call) -> Reply:
    sha = call.params["commit_sha"]
    pulls = [p for p in call.repo.pulls.values() if sha in (p.head_sha, p.merge_commit_sha)]
    return paginate(call, [gh.render.pull_simple(call.repo, p) for p in pulls])


@handles("pulls/list-reviews")
def list_reviews(gh: GitHubStandIn, call: Call) -> Reply:
    number = call.int_param("pull_number")
    if number not in call.repo.pulls:
        return not_found()
    reviews = [r for r in call.repo.reviews if r.pull_number == number]
    return paginate(call, [gh.render.review(call.repo, r) for r in reviews])


@handles("pulls/create-review")
def create_review(gh: GitHubStandIn, call: Call) -> Reply:
    pull = call.repo.pulls.get(call.int_param("pull_number"))
    if pull is None:
        return not_found()
    body = call.body or {}
    event = str(body.get("event", ""))
    text = body.get("body", "")
    if event in ("COMMENT", "REQUEST_CHANGES") and not text:
        return error(422, "Unprocessable Entity", [{"message": f"Body is required for {event}"}])
    if (refused := too_long(text)) is not None:
        return refused
    state = {
        "APPROVE": "APPROVED",
        "REQUEST_CHANGES": "CHANGES_REQUESTED",
        "COMMENT": "COMMENTED",
    }.get(event, "PENDING")
    review = ReviewRecord(
        id=gh.next_id(),
        pull_number=pull.number,
        user=call.actor,
        body=text,
        state=state,
        commit_id=body.get("commit_id") or pull.head_sha,
        submitted_at=None if state == "PENDING" else now(),
    )
    call.repo.reviews.append(review)
    return Reply(200, gh.render.review(call.repo, review))


# -- issue comments and reactions ---------------------------------------------------------------

# GitHub's limit on a comment, issue or review body, in characters (UTF-16 code units, which is
# how GitHub counts: an emoji outside the BMP costs two).
BODY_LIMIT = 65_536


def too_long(text: object, field: str = "body") -> Reply | None:
    """GitHub's 422 for a body over the limit (None when it fits)."""
    if not isinstance(text, str) or len(text.encode("utf-16-le")) // 2 <= BODY_LIMIT:
        return None
    message = f"{field} is too long (maximum is {BODY_LIMIT} characters)"
    return error(422, "Validation Failed", [{"resource": "IssueComment", "message": message}])


def _has_issue(repo: RepoState, number: int) -> bool:
    return number in repo.pulls or number in repo.issues


@handles("issues/list-comments")
def list_comments(gh: GitHubStandIn, call: Call) -> Reply:
    number = call.int_param("issue_number")
    if not _has_issue(call.repo, number):
        return not_found()
    comments = sorted(
        (c for c in call.repo.comments.values() if c.issue_number == number), key=lambda c: c.id
    )
    return paginate(call, [gh.render.comment(call.repo, c) for c in comments])


@handles("issues/create-comment")
def create_comment(gh: GitHubStandIn, call: Call) -> Reply:
    number = call.int_param("issue_number")
    if not _has_issue(call.repo, number):
        return not_found()
    if (refused := too_long(call.body["body"])) is not None:
        return refused
    comment = CommentRecord(gh.next_id(), number, call.body["body"], call.actor)
    call.repo.comments[comment.id] = comment
    rendered = gh.render.comment(call.repo, comment)
    return Reply(201, rendered, {"Location": rendered["url"]})


@handles("issues/get-comment")
def get_comment(gh: GitHubStandIn, call: Call) -> Reply:
    comment = call.repo.comments.get(call.int_param("comment_id"))
    return not_found() if comment is None else Reply(200, gh.render.comment(call.repo, comment))


@handles("issues/update-comment")
def update_comment(gh: GitHubStandIn, call: Call) -> Reply:
    comment = call.repo.comments.get(call.int_param("comment_id"))
    if comment is None:
        return not_found()
    if (refused := too_long(call.body["body"])) is not None:
        return refused
    comment.body = call.body["body"]
    comment.updated_at = now()
    return Reply(200, gh.render.comment(call.repo, comment))


@handles("issues/delete-comment")
def delete_comment(gh: GitHubStandIn, call: Call) -> Reply:
    if call.repo.comments.pop(call.int_param("comment_id"), None) is None:
        return not_found()
    return Reply(204)


@handles("reactions/create-for-issue-comment")
def create_reaction(gh: GitHubStandIn, call: Call) -> Reply:
    comment = call.repo.comments.get(call.int_param("comment_id"))
    if comment is None:
        return not_found()
    content = call.body["content"]
    for reaction in comment.reactions:
        if reaction.user.login == call.actor.login and reaction.content == content:
            return Reply(200, gh.render.reaction(reaction))  # GitHub keeps one per user+content
    reaction = Reaction(gh.next_id(), call.actor, content)
    comment.reactions.append(reaction)
    return Reply(201, gh.render.reaction(reaction))


# -- commit statuses and permissions ------------------------------------------------------------


@handles("repos/create-commit-status")
def create_status(gh: GitHubStandIn, call: Call) -> Reply:
    description = call.body.get("description")
    if description is not None and len(description) > 140:
        return error(
            422, "Validation Failed", [{"message": "description is too long (maximum is 140)"}]
        )
    status = StatusRecord(
        id=gh.next_id(),
        sha=call.params["sha"],
        state=call.body["state"],
        context=call.body.get("context", "default"),
        description=description,
        target_url=call.body.get("target_url"),
        creator=call.actor,
    )
    call.repo.statuses.append(status)
    return Reply(201, gh.render.status(call.repo, status))


@handles("repos/list-commit-statuses-for-ref")
def list_statuses(gh: GitHubStandIn, call: Call) -> Reply:
    ref = call.params["ref"]
    sha = call.repo.refs.get(f"refs/heads/{ref}", ref)
    statuses = [s for s in reversed(call.repo.statuses) if s.sha == sha]  # newest first
    return paginate(call, [gh.render.status(call.repo, s) for s in statuses])


@handles("repos/get-collaborator-permission-level")
def get_permission(gh: GitHubStandIn, call: Call) -> Reply:
    username = call.params["username"]
    role = call.repo.permissions.get(username)
    if role is None:
        return error(404, f"{username} is not a user")
    return Reply(200, gh.render.permission(username, role))


# -- git refs and commits -----------------------------------------------------------------------


@handles("git/create-ref")
def create_ref(gh: GitHubStandIn, call: Call) -> Reply:
    ref, sha = call.body["ref"], call.body["sha"]
    if not ref.startswith("refs/") or ref.count("/") < 2:
        return error(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if sha not in call.repo.commits:
        return error(422, "Object does not exist")
    if ref in call.repo.refs:
        return error(422, "Reference already exists")
    call.repo.refs[ref] = sha
    rendered = gh.render.ref(call.repo, ref, sha)
    return Reply(201, rendered, {"Location": rendered["url"]})


@handles("git/get-ref")
def get_ref(gh: GitHubStandIn, call: Call) -> Reply:
    ref = "refs/" + call.params["ref"]
    sha = call.repo.refs.get(ref)
    return not_found() if sha is None else Reply(200, gh.render.ref(call.repo, ref, sha))


@handles("git/delete-ref")
def delete_ref(gh: GitHubStandIn, call: Call) -> Reply:
    ref = "refs/" + call.params["ref"]
    if call.repo.refs.pop(ref, None) is None:
        return error(422, "Reference does not exist")
    return Reply(204)


@handles("git/list-matching-refs")
def list_matching_refs(gh: GitHubStandIn, call: Call) -> Reply:
    prefix = "refs/" + call.params["ref"]
    refs = sorted((r, s) for r, s in call.repo.refs.items() if r.startswith(prefix))
    return Reply(200, [gh.render.ref(call.repo, r, s) for r, s in refs])


@handles("git/get-commit")
def get_commit(gh: GitHubStandIn, call: Call) -> Reply:
    commit = call.repo.commits.get(call.params["commit_sha"])
    return not_found() if commit is None else Reply(200, gh.render.commit(call.repo, commit))


@handles("git/create-commit")
def create_commit(gh: GitHubStandIn, call: Call) -> Reply:
    parents = call.body.get("parents", [])
    if any(p not in call.repo.commits for p in parents):
        return error(422, "Parent SHA does not exist or is not a commit object")
    if not SHA.match(call.body["tree"]):
        return error(422, "Tree SHA does not exist")
    commit = CommitRecord(
        sha=fake_sha("commit", call.body["message"], call.body["tree"], parents, gh.next_id()),
        message=call.body["message"],
        tree=call.body["tree"],
        parents=list(parents),
    )
    call.repo.commits[commit.sha] = commit
    rendered = gh.render.commit(call.repo, commit)
    return Reply(201, rendered, {"Location": rendered["url"]})


# -- deployments --------------------------------------------------------------------------------


def _resolve(repo: RepoState, ref: str) -> str | None:
    if SHA.match(ref):
        return ref if ref in repo.commits else None
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        if candidate in repo.refs:
            return repo.refs[candidate]
    return None


@handles("repos/create-deployment")
def create_deployment(gh: GitHubStandIn, call: Call) -> Reply:
    body = call.body
    sha = _resolve(call.repo, body["ref"])
    if sha is None:
        return error(422, f"No ref found for: {body['ref']}")
    required = body.get("required_contexts")
    if required is None:  # GitHub's default: every status context must be green
        latest = {s.context: s.state for s in call.repo.statuses if s.sha == sha}
        if any(state != "success" for state in latest.values()):
            return error(409, f"Conflict: Commit status checks failed for {body['ref']}.")
    payload = body.get("payload", {})
    deployment = DeploymentRecord(
        id=gh.next_id(),
        ref=body["ref"],
        sha=sha,
        environment=body.get("environment", "production"),
        description=body.get("description"),
        payload=payload if isinstance(payload, dict) else {},
        task=body.get("task", "deploy"),
        creator=call.actor,
        auto_merge=body.get("auto_merge", True),
        required_contexts=required,
    )
    call.repo.deployments.append(deployment)
    return Reply(201, gh.render.deployment(call.repo, deployment))


@handles("repos/list-deployments")
def list_deployments(gh: GitHubStandIn, call: Call) -> Reply:
    found = [
        d
        for d in reversed(call.repo.deployments)  # newest first
        if all(call.arg(name) in (None, getattr(d, name)) for name in ("sha", "ref", "task"))
        and call.arg("environment") in (None, d.environment)
    ]
    return paginate(call, [gh.render.deployment(call.repo, d) for d in found])


@handles("repos/create-deployment-status")
def create_deployment_status(gh: GitHubStandIn, call: Call) -> Reply:
    deployment_id = call.int_param("deployment_id")
    deployment = next((d for d in call.repo.deployments if d.id == deployment_id), None)
    if deployment is None:
        return not_found()
    if len(call.body.get("description") or "") > 140:
        return error(
            422, "Validation Failed", [{"message": "description is too long (maximum is 140)"}]
        )
    status = DeploymentStatusRecord(
        id=gh.next_id(),
        state=call.body["state"],
        description=call.body.get("description", ""),
        log_url=call.body.get("log_url") or call.body.get("target_url"),
        environment_url=call.body.get("environment_url"),
        creator=call.actor,
    )
    deployment.statuses.append(status)
    return Reply(201, gh.render.deployment_status(call.repo, deployment, status))


# -- issues -------------------------------------------------------------------------------------


@handles("issues/list-for-repo")
def list_issues(gh: GitHubStandIn, call: Call) -> Reply:
    state = call.arg("state", "open")
    labels = [label for label in (call.arg("labels") or "").split(",") if label]
    rendered: list[tuple[float, dict[str, Any]]] = []
    for issue in call.repo.issues.values():
        if state in ("all", issue.state) and all(label in issue.labels for label in labels):
            rendered.append((issue.created_at.timestamp(), gh.render.issue(call.repo, issue)))
    if not labels:  # pull requests carry no labels here
        for pull in call.repo.pulls.values():
            if state in ("all", pull.state):
                rendered.append(
                    (pull.created_at.timestamp(), gh.render.pull_as_issue(call.repo, pull))
                )
    rendered.sort(key=lambda item: (item[0], item[1]["number"]), reverse=True)
    return paginate(call, [body for _, body in rendered])


@handles("issues/create")
def create_issue(gh: GitHubStandIn, call: Call) -> Reply:
    body = call.body
    if (refused := too_long(body.get("body"))) is not None:
        return refused
    labels = [
        label if isinstance(label, str) else label["name"] for label in body.get("labels", [])
    ]
    issue = IssueRecord(
        number=call.repo.next_number(),
        title=str(body["title"]),
        body=body.get("body") or "",
        labels=labels,
        author=call.actor,
    )
    call.repo.issues[issue.number] = issue
    rendered = gh.render.issue(call.repo, issue)
    return Reply(201, rendered, {"Location": rendered["url"]})


@handles("issues/update")
def update_issue(gh: GitHubStandIn, call: Call) -> Reply:
    issue = call.repo.issues.get(call.int_param("issue_number"))
    if issue is None:
        return not_found()
    body = call.body or {}
    if (refused := too_long(body.get("body"))) is not None:
        return refused
    if "title" in body:
        issue.title = str(body["title"])
    if "body" in body:
        issue.body = body["body"] or ""
    if "labels" in body:
        issue.labels = [
            label if isinstance(label, str) else label["name"] for label in body["labels"]
        ]
    if body.get("state") in ("open", "closed") and body["state"] != issue.state:
        issue.state = body["state"]
        issue.closed_at = now() if issue.state == "closed" else None
    issue.updated_at = now()
    return Reply(200, gh.render.issue(call.repo, issue))


# -- repository contents ------------------------------------------------------------------------


@handles("repos/get-content")
def get_content(gh: GitHubStandIn, call: Call) -> Reply:
    ref = call.arg("ref") or "main"
    sha = _resolve(call.repo, ref)
    if sha is None:
        return error(404, f"No commit found for the ref {ref}")
    path = call.params["path"].strip("/")
    files = call.repo.files.get(sha, {})
    if path in files:
        return Reply(200, gh.render.content_file(call.repo, path, files[path], ref))
    inside = sorted(name for name in files if name.startswith(path + "/"))
    if not inside:
        return not_found()
    entries = {path + "/" + name[len(path) + 1 :].split("/")[0] for name in inside}
    return Reply(200, [gh.render.content_entry(call.repo, e, e in files, ref) for e in entries])


# -- workflow runs ------------------------------------------------------------------------------


@handles("actions/get-workflow-run")
def get_workflow_run(gh: GitHubStandIn, call: Call) -> Reply:
    run = call.repo.workflow_runs.get(call.int_param("run_id"))
    return not_found() if run is None else Reply(200, gh.render.workflow_run(call.repo, run))


# -- organization teams -------------------------------------------------------------------------


@handles("teams/list-members-in-org")
def list_team_members(gh: GitHubStandIn, call: Call) -> Reply:
    members = gh.teams.get(f"{call.params['org']}/{call.params['team_slug']}".lower())
    if members is None:  # no such team, or one the token may not see: GitHub cannot tell
        return not_found()
    return paginate(call, members, lambda login: gh.render.user(User(login)))
