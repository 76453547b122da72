"""How the pipeline talks HTTP to GitHub: counted, retrying, honest about rate limits.

`Transport` is the part of the client below the endpoints (`client.GitHub` adds those). It wraps
githubkit, which sends the requests, authenticates, follows pagination `Link` headers and spots
rate limits; on top it adds what a CI job needs:

- Every call retries transient failures (5xx, 429, connection errors, timeouts) with exponential
  backoff, and sleeps through rate limits for as long as GitHub asks, up to a bounded total wait
  per client (`max_rate_limit_wait`); past it the call fails with an `InfraError` saying when the
  limit resets. githubkit's own retry and HTTP cache are switched off so that
  `requests` counts every HTTP request exactly (`retries` counts the repeats), keyed by the
  route templates in `ROUTES`.
- A call that may have been applied before it failed (a 5xx or a timeout on a POST) is not
  blindly repeated: `_call` asks the endpoint's `recover` first whether the write is there.
- Every write leaves through `OutboundTransport`, which passes the text GitHub shows to
  people through `core.outbound` (secrets masked, GitHub's size limits kept): no endpoint can
  forget it. The token and the environment's secret-named values are the known secrets.
- Requests are pinned to REST API version 2022-11-28: the version GitHub assumes when none is
  sent and the only one every supported GitHub Enterprise Server release understands.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar, cast

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
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from infra_pipeline.adapters.actions_env import ApiAccess
from infra_pipeline.core.outbound import Destination, outbound
from infra_pipeline.core.redact import secrets_in_env
from infra_pipeline.errors import InfraError

from .outbound_transport import OutboundTransport

if TYPE_CHECKING:
    pass

__all__ = ["API_VERSION", "ROUTES", "Transport", "graphql_url", "route_template"]

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
    ("GET", "/orgs/{org}/teams/{team_slug}/members"),
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


class Transport:
    """One repository on GitHub (or GitHub Enterprise Server), as counted, retried calls.
    `client.GitHub` builds on it; build that with `GitHub.from_env()` in CI."""

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
        secrets: Iterable[str] = (),
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
        self._outbound = OutboundTransport(self._base_path, {*secrets, token})
        self._gh = GitHubKit(
            token,
            base_url=self.api_url,
            user_agent="infra-pipeline",
            timeout=timeout,
            http_cache=False,
            auto_retry=False,
            event_hooks={"request": [self._on_request]},
            transport=self._outbound,
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
    ) -> Self:
        """The repository and credentials GitHub Actions provides (`GITHUB_TOKEN`,
        `GITHUB_REPOSITORY`, `GITHUB_API_URL`). The values of the environment's secret-named
        variables are masked in everything the client writes."""
        access = ApiAccess.from_env(env)
        token, repository = access.token, access.repository
        if not token:
            raise InfraError(
                "GITHUB_TOKEN is not set, so infra cannot talk to GitHub",
                "In the workflow step add `env: GITHUB_TOKEN: ${{ github.token }}`; locally run "
                "`export GITHUB_TOKEN=$(gh auth token)`.",
            )
        if not repository:
            raise InfraError(
                "GITHUB_REPOSITORY is not set, so infra does not know which repository to use",
                "GitHub Actions sets it; outside Actions export GITHUB_REPOSITORY=owner/name.",
            )
        return cls(
            token,
            repository,
            access.api_url or DEFAULT_API_URL,
            max_rate_limit_wait=max_rate_limit_wait,
            sleep=sleep,
            secrets=secrets_in_env(env),
        )

    def close(self) -> None:
        self._gh.__exit__()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the HTTP seam ---------------------------------------------------------------------------

    def _as_sent(self, text: str, destination: Destination) -> str:
        """`text` as `OutboundTransport` sends it: what a create looks for when it recovers."""
        return outbound(text, destination, self._outbound.secrets)

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
            message = f"GitHub answered {status} to {what}: {response_message(exc)}"
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


def response_message(exc: RequestFailed) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return exc.response.text[:200]
    return str(body.get("message", "")) if isinstance(body, dict) else str(body)[:200]


def is_secondary_limit(exc: RequestFailed) -> bool:
    status = exc.response.status_code
    return status == 429 or (
        status == 403 and "secondary rate limit" in response_message(exc).lower()
    )


def _rate_limit_delay(exc: BaseException | None) -> float | None:
    """Seconds GitHub asks us to wait, or None when `exc` is not a rate limit."""
    if isinstance(exc, RateLimitExceeded):  # githubkit read Retry-After / X-RateLimit-Reset
        return exc.retry_after.total_seconds()
    if isinstance(exc, RequestFailed) and is_secondary_limit(exc):
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
        return f"{exc.response.status_code} {response_message(exc)[:120]}".strip()
    if isinstance(exc, RequestError):
        return f"{type(exc.exc).__name__}: {exc.exc}"
    return repr(exc)
