"""The stand-in's records as GitHub's JSON: GitHub's own examples with our values put in."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from standin.spec import Spec
from standin.state import (
    CommentRecord,
    CommitRecord,
    DeploymentRecord,
    DeploymentStatusRecord,
    FileChange,
    IssueRecord,
    Pull,
    Reaction,
    RepoState,
    ReviewRecord,
    StatusRecord,
    User,
    WorkflowRunRecord,
    fake_sha,
)

REPO = "/repos/{owner}/{repo}"


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, value: object) -> str:
    return base64.b64encode(f"{kind}{value}".encode()).decode()


class Renderer:
    def __init__(self, spec: Spec, api: str, web: str) -> None:
        self.spec = spec
        self.api = api  # e.g. http://127.0.0.1:5000 or .../api/v3
        self.web = web

    def _example(self, method: str, template: str, status: int = 200) -> Any:
        return self.spec.operation(method, template).example(status)

    def user(self, user: User) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/issues/comments/{{comment_id}}")["user"]
        out.update(
            login=user.login,
            id=user.id,
            node_id=node_id("04:User", user.id),
            type=user.type,
            url=f"{self.api}/users/{user.login}",
            html_url=f"{self.web}/{user.login}",
        )
        return out

    def repository(self, full_name: str, repo_id: int, *, fork: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/pulls/{{pull_number}}")["base"]["repo"]
        owner, name = full_name.split("/")
        out.update(
            id=repo_id,
            node_id=node_id("010:Repository", repo_id),
            name=name,
            full_name=full_name,
            owner=self.user(User(owner, "Organization")),
            fork=fork,
            url=f"{self.api}/repos/{full_name}",
            html_url=f"{self.web}/{full_name}",
        )
        return out

    # -- pull requests ---------------------------------------------------------------------------

    def _pull_common(self, out: dict[str, Any], repo: RepoState, pull: Pull) -> dict[str, Any]:
        base_url = f"{self.api}/repos/{repo.full_name}"
        head_repo = pull.head_repo if pull.fork or pull.head_repo is None else repo.full_name
        if pull.fork and head_repo is None:
            head = None
        elif head_repo == repo.full_name:
            head = self.repository(repo.full_name, repo.id)
        else:
            head = self.repository(str(head_repo), repo.id + pull.number, fork=True)
        head_owner = repo.owner if head is None else head["owner"]["login"]
        out.update(
            url=f"{base_url}/pulls/{pull.number}",
            id=pull.number * 1000 + repo.id,
            node_id=pull.node_id or node_id("011:PullRequest", pull.number),
            html_url=f"{self.web}/{repo.full_name}/pull/{pull.number}",
            diff_url=f"{self.web}/{repo.full_name}/pull/{pull.number}.diff",
            patch_url=f"{self.web}/{repo.full_name}/pull/{pull.number}.patch",
            issue_url=f"{base_url}/issues/{pull.number}",
            comments_url=f"{base_url}/issues/{pull.number}/comments",
            statuses_url=f"{base_url}/statuses/{pull.head_sha}",
            number=pull.number,
            state=pull.state,
            locked=False,
            active_lock_reason=None,
            title=pull.title,
            body=pull.body,
            user=self.user(pull.author),
            labels=[],
            milestone=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            created_at=iso(pull.created_at),
            updated_at=iso(pull.created_at),
            closed_at=iso(pull.created_at) if pull.state == "closed" else None,
            merged_at=iso(pull.created_at) if pull.merged else None,
            merge_commit_sha=pull.merge_commit_sha,
            draft=pull.draft,
            auto_merge=None,
            author_association="CONTRIBUTOR" if pull.fork else "MEMBER",
        )
        out["head"].update(
            label=f"{head_owner}:{pull.head_ref}",
            ref=pull.head_ref,
            sha=pull.head_sha,
            repo=head,
            user=self.user(User(head_owner, "Organization")),
        )
        out["base"].update(
            label=f"{repo.owner}:{pull.base_ref}",
            ref=pull.base_ref,
            sha=pull.base_sha,
            repo=self.repository(repo.full_name, repo.id),
            user=self.user(User(repo.owner, "Organization")),
        )
        return out

    def pull(self, repo: RepoState, pull: Pull) -> dict[str, Any]:
        out = self._pull_common(self._example("GET", f"{REPO}/pulls/{{pull_number}}"), repo, pull)
        out.update(
            merged=pull.merged,
            mergeable=pull.mergeable,
            rebaseable=pull.mergeable,
            mergeable_state="unknown" if pull.mergeable is None else "clean",
            merged_by=self.user(pull.author) if pull.merged else None,
            comments=sum(1 for c in repo.comments.values() if c.issue_number == pull.number),
            review_comments=0,
            commits=1,
            additions=sum(f.additions for f in pull.files),
            deletions=sum(f.deletions for f in pull.files),
            changed_files=len(pull.files),
        )
        return out

    def pull_simple(self, repo: RepoState, pull: Pull) -> dict[str, Any]:
        example = self._example("GET", f"{REPO}/commits/{{commit_sha}}/pulls")[0]
        return self._pull_common(example, repo, pull)

    def file(self, repo: RepoState, pull: Pull, change: FileChange) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/pulls/{{pull_number}}/files")[0]
        blob = f"{self.web}/{repo.full_name}/blob/{pull.head_sha}/{change.filename}"
        out.update(
            sha=None if change.status == "removed" else node_id("blob", change.filename)[:40],
            filename=change.filename,
            status=change.status,
            additions=change.additions,
            deletions=change.deletions,
            changes=change.additions + change.deletions,
            blob_url=blob,
            raw_url=blob.replace("/blob/", "/raw/"),
            contents_url=f"{self.api}/repos/{repo.full_name}/contents/{change.filename}"
            f"?ref={pull.head_sha}",
            patch=f"@@ -1 +1 @@\n-old {change.filename}\n+new {change.filename}",
        )
        if change.previous_filename is not None:
            out["previous_filename"] = change.previous_filename
        return out

    def review(self, repo: RepoState, review: ReviewRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/pulls/{{pull_number}}/reviews")[0]
        pull_web = f"{self.web}/{repo.full_name}/pull/{review.pull_number}"
        html = f"{pull_web}#pullrequestreview-{review.id}"
        pull_url = f"{self.api}/repos/{repo.full_name}/pulls/{review.pull_number}"
        out.update(
            id=review.id,
            node_id=node_id("017:PullRequestReview", review.id),
            user=self.user(review.user),
            body=review.body,
            state=review.state,
            html_url=html,
            pull_request_url=pull_url,
            _links={"html": {"href": html}, "pull_request": {"href": pull_url}},
            commit_id=review.commit_id,
            author_association="MEMBER",
        )
        if review.submitted_at is None:
            out.pop("submitted_at", None)
        else:
            out["submitted_at"] = iso(review.submitted_at)
        return out

    # -- issues and comments ---------------------------------------------------------------------

    def comment(self, repo: RepoState, comment: CommentRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/issues/comments/{{comment_id}}")
        kind = "pull" if comment.issue_number in repo.pulls else "issues"
        out.update(
            id=comment.id,
            node_id=comment.node_id,
            url=f"{self.api}/repos/{repo.full_name}/issues/comments/{comment.id}",
            html_url=f"{self.web}/{repo.full_name}/{kind}/{comment.issue_number}"
            f"#issuecomment-{comment.id}",
            body=comment.body,
            user=self.user(comment.user),
            created_at=iso(comment.created_at),
            updated_at=iso(comment.updated_at),
            issue_url=f"{self.api}/repos/{repo.full_name}/issues/{comment.issue_number}",
            author_association="NONE" if comment.user.type == "Bot" else "MEMBER",
            minimized=None
            if comment.minimized_reason is None
            else {"reason": comment.minimized_reason.lower()},
        )
        return out

    def reaction(self, reaction: Reaction) -> dict[str, Any]:
        out: dict[str, Any] = self._example(
            "POST", f"{REPO}/issues/comments/{{comment_id}}/reactions", 201
        )
        out.update(
            id=reaction.id,
            node_id=node_id("08:Reaction", reaction.id),
            user=self.user(reaction.user),
            content=reaction.content,
            created_at=iso(reaction.created_at),
        )
        return out

    def issue(self, repo: RepoState, issue: IssueRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/issues")[0]
        base = f"{self.api}/repos/{repo.full_name}/issues/{issue.number}"
        label_template = out["labels"][0] if out["labels"] else {}
        out.update(
            id=issue.number * 7919 + repo.id,
            node_id=node_id("05:Issue", issue.number),
            url=base,
            repository_url=f"{self.api}/repos/{repo.full_name}",
            labels_url=f"{base}/labels{{/name}}",
            comments_url=f"{base}/comments",
            events_url=f"{base}/events",
            html_url=f"{self.web}/{repo.full_name}/issues/{issue.number}",
            number=issue.number,
            state=issue.state,
            title=issue.title,
            body=issue.body,
            user=self.user(issue.author),
            labels=[
                {**label_template, "name": name, "id": abs(hash(name)) % 10**9, "default": False}
                for name in issue.labels
            ],
            assignee=None,
            assignees=[],
            milestone=None,
            locked=False,
            active_lock_reason=None,
            comments=sum(1 for c in repo.comments.values() if c.issue_number == issue.number),
            closed_at=iso(issue.closed_at),
            created_at=iso(issue.created_at),
            updated_at=iso(issue.updated_at),
            closed_by=None,
            author_association="NONE",
            state_reason="completed" if issue.state == "closed" else None,
        )
        out.pop("pull_request", None)
        return out

    def pull_as_issue(self, repo: RepoState, pull: Pull) -> dict[str, Any]:
        """Pull requests are issues too: the issues list includes them, marked so."""
        record = IssueRecord(pull.number, pull.title, pull.body, [], pull.author, pull.state)
        out = self.issue(repo, record)
        out["pull_request"] = {
            "url": f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}",
            "html_url": f"{self.web}/{repo.full_name}/pull/{pull.number}",
            "diff_url": f"{self.web}/{repo.full_name}/pull/{pull.number}.diff",
            "patch_url": f"{self.web}/{repo.full_name}/pull/{pull.number}.patch",
            "merged_at": iso(pull.created_at) if pull.merged else None,
        }
        return out

    # -- statuses, refs, commits -----------------------------------------------------------------

    def status(self, repo: RepoState, status: StatusRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("POST", f"{REPO}/statuses/{{sha}}", 201)
        out.update(
            url=f"{self.api}/repos/{repo.full_name}/statuses/{status.sha}",
            id=status.id,
            node_id=node_id("06:Status", status.id),
            state=status.state,
            description=status.description,
            target_url=status.target_url,
            context=status.context,
            created_at=iso(status.created_at),
            updated_at=iso(status.created_at),
            creator=self.user(status.creator),
        )
        return out

    def ref(self, repo: RepoState, ref: str, sha: str) -> dict[str, Any]:
        base = f"{self.api}/repos/{repo.full_name}/git"
        return {
            "ref": ref,
            "node_id": node_id("03:Ref", ref),
            "url": f"{base}/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{base}/commits/{sha}"},
        }

    def commit(self, repo: RepoState, commit: CommitRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("POST", f"{REPO}/git/commits", 201)
        base = f"{self.api}/repos/{repo.full_name}/git"
        person = {"date": iso(commit.created_at), "name": "infra", "email": "infra@example.com"}
        out.update(
            sha=commit.sha,
            node_id=node_id("06:Commit", commit.sha),
            url=f"{base}/commits/{commit.sha}",
            html_url=f"{self.web}/{repo.full_name}/commit/{commit.sha}",
            author=person,
            committer=person,
            message=commit.message,
            tree={"url": f"{base}/trees/{commit.tree}", "sha": commit.tree},
            parents=[
                {
                    "url": f"{base}/commits/{p}",
                    "sha": p,
                    "html_url": f"{self.web}/{repo.full_name}/commit/{p}",
                }
                for p in commit.parents
            ],
        )
        return out

    # -- repository contents ---------------------------------------------------------------------

    def content_entry(self, repo: RepoState, path: str, is_file: bool, ref: str) -> dict[str, Any]:
        """One entry of a directory listing (no content), as GitHub lists it."""
        sha = fake_sha("blob", repo.full_name, path, ref)
        api = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}/{'blob' if is_file else 'tree'}/{ref}/{path}"
        git = f"{api}/git/{'blobs' if is_file else 'trees'}/{sha}"
        raw = f"{self.web}/{repo.full_name}/raw/{ref}/{path}" if is_file else None
        url = f"{api}/contents/{path}?ref={ref}"
        return {
            "type": "file" if is_file else "dir",
            "size": 0,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": url,
            "git_url": git,
            "html_url": html,
            "download_url": raw,
            "_links": {"self": url, "git": git, "html": html},
        }

    def content_file(self, repo: RepoState, path: str, text: str, ref: str) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/contents/{{path}}")
        data = text.encode()
        out.update(self.content_entry(repo, path, True, ref))
        # GitHub wraps the base64 at 60 characters, as `encodebytes` does at 76: either way the
        # client has to ignore the newlines.
        out.update(size=len(data), encoding="base64", content=base64.encodebytes(data).decode())
        return out

    # -- deployments, permissions, runs ----------------------------------------------------------

    def deployment(self, repo: RepoState, deployment: DeploymentRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("POST", f"{REPO}/deployments", 201)
        base = f"{self.api}/repos/{repo.full_name}"
        out.update(
            url=f"{base}/deployments/{deployment.id}",
            id=deployment.id,
            node_id=node_id("010:Deployment", deployment.id),
            sha=deployment.sha,
            ref=deployment.ref,
            task=deployment.task,
            payload=deployment.payload,
            original_environment=deployment.environment,
            environment=deployment.environment,
            description=deployment.description,
            creator=self.user(deployment.creator),
            created_at=iso(deployment.created_at),
            updated_at=iso(deployment.created_at),
            statuses_url=f"{base}/deployments/{deployment.id}/statuses",
            repository_url=base,
            transient_environment=False,
            production_environment=deployment.environment.startswith("prod"),
        )
        return out

    def deployment_status(
        self, repo: RepoState, deployment: DeploymentRecord, status: DeploymentStatusRecord
    ) -> dict[str, Any]:
        out: dict[str, Any] = self._example(
            "POST", f"{REPO}/deployments/{{deployment_id}}/statuses", 201
        )
        base = f"{self.api}/repos/{repo.full_name}"
        out.update(
            url=f"{base}/deployments/{deployment.id}/statuses/{status.id}",
            id=status.id,
            node_id=node_id("016:DeploymentStatus", status.id),
            state=status.state,
            creator=self.user(status.creator),
            description=status.description,
            environment=deployment.environment,
            target_url=status.log_url or "",
            log_url=status.log_url or "",
            environment_url=status.environment_url or "",
            created_at=iso(status.created_at),
            updated_at=iso(status.created_at),
            deployment_url=f"{base}/deployments/{deployment.id}",
            repository_url=base,
        )
        return out

    def permission(self, login: str, role: str) -> dict[str, Any]:
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        if legacy not in ("admin", "write", "read", "none"):
            legacy = "read"  # custom roles map onto their base role; read is the floor
        out: dict[str, Any] = self._example("GET", f"{REPO}/collaborators/{{username}}/permission")
        user = {**self.user(User(login)), "role_name": role}
        user["permissions"] = {
            "pull": legacy != "none",
            "triage": role in ("triage", "write", "maintain", "admin"),
            "push": legacy in ("write", "admin"),
            "maintain": role in ("maintain", "admin"),
            "admin": legacy == "admin",
        }
        out.update(permission=legacy, role_name=role, user=user)
        return out

    def workflow_run(self, repo: RepoState, run: WorkflowRunRecord) -> dict[str, Any]:
        out: dict[str, Any] = self._example("GET", f"{REPO}/actions/runs/{{run_id}}")
        base = f"{self.api}/repos/{repo.full_name}/actions/runs/{run.id}"
        out.update(
            id=run.id,
            name=run.name,
            node_id=node_id("011:WorkflowRun", run.id),
            head_sha=run.head_sha,
            event=run.event,
            status=run.status,
            conclusion=run.conclusion,
            url=base,
            html_url=run.html_url,
            jobs_url=f"{base}/jobs",
            logs_url=f"{base}/logs",
            cancel_url=f"{base}/cancel",
            rerun_url=f"{base}/rerun",
            artifacts_url=f"{base}/artifacts",
            pull_requests=[],
        )
        return out
