"""A stateful GitHub on 127.0.0.1 for tests: real HTTP, GitHub's routes and status codes, and
every request checked against GitHub's own OpenAPI description.

    with GitHubStandIn() as gh:
        gh.add_pull(7, files=["platform/main.tf"])
        ...  # run the client against gh.url
        assert gh.violations == []

Anything the client sends that GitHub would not accept (an unknown route, a body that does not
match the operation's schema, a missing token) is answered as GitHub would (404/422/401) *and*
recorded in `violations`, which the `standin` fixture asserts empty at teardown.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from standin import graphql
from standin.render import Renderer
from standin.routes import HANDLERS, Call, Reply, error
from standin.spec import load_spec
from standin.state import (
    CommentRecord,
    DeploymentRecord,
    FileChange,
    IssueRecord,
    Pull,
    RepoState,
    ReviewRecord,
    StatusRecord,
    User,
    WorkflowRunRecord,
    fake_sha,
)

DEFAULT_REPO = "acme/infra"
API_VERSIONS = {"2022-11-28", "2026-03-10"}
GHES_PREFIX = "/api/v3"
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


@dataclass
class Fault:
    """An answer the stand-in gives instead of the real one, `times` times."""

    method: str  # "*" for any
    route: str  # a route template or an fnmatch pattern over templates ("*" for any)
    status: int
    times: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after_write: bool = False  # apply the request, then fail (as GitHub sometimes does)
    reset_in: float | None = None  # primary rate limit: X-RateLimit-Reset = now + reset_in
    hits: int = 0
    when: Callable[[], bool] | None = None  # armed only while this says so (e.g. "applied")

    def matches(self, method: str, route: str) -> bool:
        method_ok = self.method in ("*", method)
        if not (method_ok and self.hits < self.times and fnmatch.fnmatchcase(route, self.route)):
            return False
        return self.when is None or self.when()

    def reply(self) -> Reply:
        self.hits += 1
        headers = dict(self.headers)
        if self.reset_in is not None:
            headers["X-RateLimit-Reset"] = str(int(time.time() + self.reset_in))
        body = self.body if self.body is not None else {"message": f"injected {self.status}"}
        return Reply(self.status, body, headers)


@dataclass
class Hold:
    """The next `barrier.parties` requests matching `method` and `route` are answered only once
    all of them have arrived, and only once all of them have been dispatched: two jobs' requests
    meet at the stand-in and see the same state, so a test can make a race happen every time
    instead of when the machine's timing allows. (Without the second meeting, a loaded machine
    could let one job act on its answer, e.g. create the comment both were to miss, before the
    other job's request was even looked at.)"""

    method: str
    route: str  # a route template or an fnmatch pattern over templates
    barrier: threading.Barrier
    taken: int = 0

    def takes(self, method: str, route: str) -> bool:
        return (
            self.taken < self.barrier.parties
            and self.method in ("*", method)
            and fnmatch.fnmatchcase(route, self.route)
        )


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    route: str  # the route template, or the raw path when GitHub has no such route
    query: dict[str, list[str]]
    body: Any
    status: int


class GitHubStandIn:
    def __init__(self, repository: str = DEFAULT_REPO) -> None:
        self.spec = load_spec()
        self.default_repo = repository
        self.actor = User("github-actions[bot]", "Bot", id=41898282)
        self.violations: list[str] = []
        self.log: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self._repos: dict[str, RepoState] = {}
        # "org/team-slug" (lower case) -> member logins; a team missing here is one the token
        # cannot see, which GitHub answers with 404 as it does for one that does not exist.
        self.teams: dict[str, list[str]] = {}
        self._ids = itertools.count(1_000_001)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.render = Renderer(self.spec, "", "")
        self.repo(repository)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> GitHubStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def ghes_api_url(self) -> str:
        """The same server, addressed as GitHub Enterprise Server (`<host>/api/v3`)."""
        return self.url + GHES_PREFIX

    # -- arranging state -------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def repo(self, full_name: str | None = None) -> RepoState:
        name = full_name or self.default_repo
        with self._lock:
            if name not in self._repos:
                self._repos[name] = RepoState(name, int(fake_sha("repo", name)[:6], 16))
            return self._repos[name]

    def add_pull(
        self,
        number: int | None = None,
        *,
        head_sha: str | None = None,
        base_sha: str | None = None,
        files: list[str | tuple[str, str] | FileChange] | None = None,
        title: str = "Change infrastructure",
        author: str = "octocat",
        head_ref: str | None = None,
        base_ref: str = "main",
        draft: bool = False,
        fork: bool = False,
        head_repo: str | None = None,
        state: str = "open",
        merged: bool = False,
        mergeable: bool | None = True,
        merge_commit_sha: str | None = None,
        diff: str | None = None,
        body: str = "",
        repo: str | None = None,
    ) -> Pull:
        """A pull request; `files` are paths, (new, old) renames, or `FileChange`s. Its head and
        base commits become known commits and its branch a ref (unless it comes from a fork)."""
        state_ = self.repo(repo)
        with self._lock:
            number = number or state_.next_number()
            changes = [
                f
                if isinstance(f, FileChange)
                else FileChange(f[0], "renamed", previous_filename=f[1])
                if isinstance(f, tuple)
                else FileChange(f)
                for f in (files or [])
            ]
            head_sha = head_sha or fake_sha("head", state_.full_name, number)
            base_sha = base_sha or fake_sha("base", state_.full_name)
            pull = Pull(
                number=number,
                title=title,
                head_sha=head_sha,
                base_sha=base_sha,
                head_ref=head_ref or f"change-{number}",
                base_ref=base_ref,
                author=User(author),
                files=changes,
                draft=draft,
                fork=fork,
                head_repo=(head_repo or f"{author}/{state_.name}") if fork else state_.full_name,
                state=state,
                merged=merged,
                mergeable=mergeable,
                merge_commit_sha=merge_commit_sha,
                diff=diff,
                body=body,
            )
            state_.pulls[number] = pull
            state_.ensure_commit(head_sha, f"head of #{number}")
            state_.ensure_commit(base_sha, "base")
            state_.refs.setdefault(f"refs/heads/{base_ref}", base_sha)
            if merge_commit_sha:
                state_.ensure_commit(merge_commit_sha, f"Merge pull request #{number}")
            if not fork:
                state_.refs.setdefault(f"refs/heads/{pull.head_ref}", head_sha)
            self.set_permission(author, state_.permissions.get(author, "write"), repo=repo)
            return pull

    def add_issue(
        self,
        title: str,
        body: str = "",
        labels: list[str] | None = None,
        *,
        state: str = "open",
        author: str = "octocat",
        repo: str | None = None,
    ) -> IssueRecord:
        state_ = self.repo(repo)
        with self._lock:
            issue = IssueRecord(state_.next_number(), title, body, list(labels or []), User(author))
            issue.state = state
            state_.issues[issue.number] = issue
            return issue

    def add_comment(
        self,
        number: int,
        body: str,
        *,
        user: str = "octocat",
        user_type: str = "User",
        repo: str | None = None,
    ) -> CommentRecord:
        """A comment someone else wrote (the client's own are authored by `actor`)."""
        state_ = self.repo(repo)
        with self._lock:
            comment = CommentRecord(self.next_id(), number, body, User(user, user_type))
            state_.comments[comment.id] = comment
            return comment

    def add_review(
        self,
        number: int,
        user: str,
        state: str = "APPROVED",
        *,
        commit_id: str | None = None,
        repo: str | None = None,
    ) -> ReviewRecord:
        """A review someone else submitted, on `commit_id` (default: the PR's head now)."""
        state_ = self.repo(repo)
        with self._lock:
            pull = state_.pulls[number]
            review = ReviewRecord(
                self.next_id(), number, User(user), "", state, commit_id or pull.head_sha
            )
            state_.reviews.append(review)
            return review

    def add_commit(
        self,
        sha: str | None = None,
        message: str = "commit",
        *,
        tree: str | None = None,
        parents: list[str] | None = None,
        repo: str | None = None,
    ) -> str:
        state_ = self.repo(repo)
        with self._lock:
            commit = state_.ensure_commit(sha or fake_sha("commit", self.next_id()), message)
            commit.message = message
            commit.tree = tree or commit.tree
            commit.parents = list(parents or [])
            return commit.sha

    def set_ref(self, ref: str, sha: str, *, repo: str | None = None) -> None:
        state_ = self.repo(repo)
        with self._lock:
            state_.ensure_commit(sha)
            state_.refs[ref if ref.startswith("refs/") else f"refs/{ref}"] = sha

    def set_file(self, path: str, text: str | None, *, ref: str, repo: str | None = None) -> None:
        """The file at `path` in commit `ref` (a sha) reads `text`; None removes it."""
        state_ = self.repo(repo)
        with self._lock:
            state_.ensure_commit(ref)
            files = state_.files.setdefault(ref, {})
            if text is None:
                files.pop(path.strip("/"), None)
            else:
                files[path.strip("/")] = text

    def set_team(self, team: str, members: list[str]) -> None:
        """`team` ("org/slug") exists, is visible to the token, and has `members`."""
        with self._lock:
            self.teams[team.lower()] = list(members)

    def set_permission(self, user: str, role: str, *, repo: str | None = None) -> None:
        """`role`: admin, maintain, write, triage, read, none, or a custom role's name."""
        state_ = self.repo(repo)
        with self._lock:
            state_.permissions[user] = role

    def add_workflow_run(
        self,
        run_id: int,
        status: str = "in_progress",
        conclusion: str | None = None,
        *,
        head_sha: str = "",
        event: str = "pull_request",
        name: str = "CI",
        repo: str | None = None,
    ) -> WorkflowRunRecord:
        state_ = self.repo(repo)
        with self._lock:
            run = WorkflowRunRecord(
                id=run_id,
                status=status,
                conclusion=conclusion,
                head_sha=head_sha or fake_sha("run", run_id),
                event=event,
                name=name,
                html_url=f"{self.url}/{state_.full_name}/actions/runs/{run_id}",
            )
            state_.workflow_runs[run_id] = run
            return run

    # -- outcomes, for assertions ----------------------------------------------------------------

    def comments(self, number: int, *, repo: str | None = None) -> list[CommentRecord]:
        with self._lock:
            found = [c for c in self.repo(repo).comments.values() if c.issue_number == number]
            return sorted(found, key=lambda c: c.id)

    def reactions(self, comment_id: int, *, repo: str | None = None) -> list[str]:
        with self._lock:
            return [r.content for r in self.repo(repo).comments[comment_id].reactions]

    def statuses(self, sha: str, *, repo: str | None = None) -> list[StatusRecord]:
        """Every status set on `sha`, oldest first."""
        with self._lock:
            return [s for s in self.repo(repo).statuses if s.sha == sha]

    def latest_statuses(self, sha: str, *, repo: str | None = None) -> dict[str, StatusRecord]:
        """The status that counts per context, as GitHub shows it."""
        return {s.context: s for s in self.statuses(sha, repo=repo)}

    def reviews(self, number: int, *, repo: str | None = None) -> list[ReviewRecord]:
        with self._lock:
            return [r for r in self.repo(repo).reviews if r.pull_number == number]

    @property
    def refs(self) -> dict[str, str]:
        return self.repo().refs

    @property
    def deployments(self) -> list[DeploymentRecord]:
        return self.repo().deployments

    @property
    def issues(self) -> dict[int, IssueRecord]:
        return self.repo().issues

    @property
    def pulls(self) -> dict[int, Pull]:
        return self.repo().pulls

    def request_counts(self) -> Counter[tuple[str, str]]:
        """Requests served, by (method, route template) — retries included."""
        with self._lock:
            return Counter((r.method, r.route) for r in self.log)

    def find_comment_by_node_id(self, node_id: str) -> CommentRecord | None:
        for state_ in self._repos.values():
            for comment in state_.comments.values():
                if comment.node_id == node_id:
                    return comment
        return None

    # -- fault injection -------------------------------------------------------------------------

    def inject(
        self,
        method: str,
        route: str,
        status: int = 502,
        *,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        after_write: bool = False,
        when: Callable[[], bool] | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with `status`. By default the error comes
        *before* the write is applied; `after_write=True` applies it first, as GitHub does when
        it creates a comment and then answers 502. `when`: only while it returns True."""
        fault = Fault(method.upper(), route, status, times, body, headers or {}, after_write)
        fault.when = when
        with self._lock:
            self.faults.append(fault)
        return fault

    def hold(self, method: str, route: str, count: int = 2, *, timeout: float = 60.0) -> Hold:
        """Keep the next `count` requests matching `method` and `route` waiting until all
        `count` have arrived, then answer each (in the order the stand-in takes them)."""
        held = Hold(method.upper(), route, threading.Barrier(count, timeout=timeout))
        with self._lock:
            self.holds.append(held)
        return held

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def secondary_rate_limit(
        self,
        method: str = "*",
        route: str = "*",
        *,
        times: int = 1,
        retry_after: int = 1,
        status: int = 403,
    ) -> Fault:
        body = {
            "message": SECONDARY_LIMIT_MESSAGE,
            "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            "status": str(status),
        }
        headers = {"Retry-After": str(retry_after)}
        return self.inject(method, route, status, times=times, body=body, headers=headers)

    def primary_rate_limit(
        self, method: str = "*", route: str = "*", *, times: int = 1, reset_in: float = 1
    ) -> Fault:
        body = {
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-primary-rate-limits",
            "status": "403",
        }
        headers = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Resource": "core",
        }
        fault = self.inject(method, route, 403, times=times, body=body, headers=headers)
        fault.reset_in = reset_in
        return fault

    # -- serving ---------------------------------------------------------------------------------

    def _fault_for(self, method: str, route: str) -> Fault | None:
        return next((f for f in self.faults if f.matches(method, route)), None)

    def serve(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes, host: str
    ) -> Reply:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        api_base = f"http://{host}"
        if path.startswith(GHES_PREFIX + "/"):
            path, api_base = path[len(GHES_PREFIX) :], api_base + GHES_PREFIX
        held = self._wait_if_held(method, path)
        with self._lock:
            self.render.api, self.render.web = api_base, f"http://{host}"
            problems: list[str] = []
            body: Any = None
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    problems.append("the request body is not JSON")
            reply, route = self._dispatch(method, path, query, headers, body, raw_body, problems)
            for problem in problems:
                self.violations.append(f"{method} {split.path}: {problem}")
            self.log.append(LoggedRequest(method, split.path, route, query, body, reply.status))
        if held is not None:
            held.barrier.wait()  # every held request dispatched before any is answered
        return reply

    def _wait_if_held(self, method: str, path: str) -> Hold | None:
        """Outside the lock, so the requests held can all arrive."""
        matched = self.spec.match(method, path)
        route = matched[0].template if matched is not None else path
        with self._lock:
            held = next((h for h in self.holds if h.takes(method, route)), None)
            if held is not None:
                held.taken += 1
        if held is not None:
            held.barrier.wait()
        return held

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
        raw_body: bytes,
        problems: list[str],
    ) -> tuple[Reply, str]:
        if not headers.get("authorization", "").startswith(("token ", "Bearer ")):
            problems.append("no token: GitHub answers 401")
            return error(401, "Requires authentication"), path
        if path in ("/graphql", "/api/graphql") and method == "POST":
            fault = self._fault_for(method, "/graphql")
            if fault is not None and not fault.after_write:
                return fault.reply(), "/graphql"
            reply, found = graphql.handle(self, body)
            problems += found
            return (fault.reply() if fault is not None else reply), "/graphql"
        matched = self.spec.match(method, path)
        if matched is None:
            allowed = self.spec.paths_with(path)
            why = f"only {', '.join(allowed)} exist" if allowed else "no such path"
            problems.append(f"not an operation in GitHub's REST description ({why})")
            message = f"infra stand-in: {method} {path} is not a GitHub route ({why})"
            return error(404, message), path
        operation, params = matched
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            problems.append(f"X-GitHub-Api-Version {version} is not a supported API version")
            return error(400, f"Unsupported 'X-GitHub-Api-Version' header: {version}"), path
        found = self.spec.check_request(operation, query, body, bool(raw_body))
        if found:
            problems += found
            return error(422, "Invalid request.\n\n" + "\n".join(found)), operation.template
        fault = self._fault_for(method, operation.template)
        if fault is not None and not fault.after_write:
            return fault.reply(), operation.template
        # Organization routes (teams) have no repository: they read the stand-in's own state.
        name = f"{params['owner']}/{params['repo']}" if "owner" in params else self.default_repo
        repo = self._repos.get(name)
        if repo is None:
            return error(404, "Not Found"), operation.template
        call = Call(method, params, query, body, headers, self.actor, repo, self._self_url(path))
        reply = HANDLERS[operation.operation_id](self, call)
        if fault is not None:
            return fault.reply(), operation.template
        if 200 <= reply.status < 300 and reply.content_type.startswith("application/json"):
            for problem in self.spec.check_response(operation, reply.status, reply.body):
                self.violations.append(f"stand-in answer to {method} {path}: {problem}")
        return reply, operation.template

    def _self_url(self, path: str) -> str:
        return f"{self.render.api}{path}"


class _Handler(BaseHTTPRequestHandler):
    owner: GitHubStandIn
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from GitHub
    # Headers and body go out in two writes; with Nagle on, each answer waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.owner.serve(
            self.command, self.path, headers, raw_body, self.headers.get("Host", "")
        )
        if reply.body is None:
            payload = b""
        elif isinstance(reply.body, str):
            payload = reply.body.encode()
        else:
            payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if payload:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        if "X-RateLimit-Remaining" not in reply.headers:
            self.send_header("X-RateLimit-Limit", "5000")
            self.send_header("X-RateLimit-Remaining", "4999")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is `GitHubStandIn.log`
