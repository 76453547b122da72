"""The GitHub client's way out: every write it sends passes `core.outbound` at the HTTP layer.

The client hands this transport to githubkit, so each request body is seen here whatever
method built it, one added next year included: the text fields GitHub shows to people
(comment, review and issue bodies, issue titles, commit and deployment status descriptions)
are redacted and cut to GitHub's limits before they leave; the links and the deployment's
payload next to them (`target_url`, `log_url`, `payload`) are redacted too, uncut, so that no
field of a status or a deployment can carry a secret even if a caller put one there. Other
writes (refs, the lock commits, reactions, GraphQL) carry no free text from outside the job
and pass as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import httpx

from ...core.outbound import Destination, outbound, redact_value

_REPO: Final = r"/repos/[^/]+/[^/]+"
# (method, path under the API root) -> the JSON fields that are text, and where they go;
# None: a link or a JSON value, redacted but never cut.
_ROUTES: Final[tuple[tuple[str, re.Pattern[str], Mapping[str, Destination | None]], ...]] = (
    ("POST", re.compile(_REPO + r"/issues/\d+/comments"), {"body": Destination.COMMENT}),
    ("PATCH", re.compile(_REPO + r"/issues/comments/\d+"), {"body": Destination.COMMENT}),
    ("POST", re.compile(_REPO + r"/pulls/\d+/reviews"), {"body": Destination.COMMENT}),
    (
        "POST",
        re.compile(_REPO + r"/issues"),
        {"title": Destination.ISSUE_TITLE, "body": Destination.ISSUE_BODY},
    ),
    (
        "PATCH",
        re.compile(_REPO + r"/issues/\d+"),
        {"title": Destination.ISSUE_TITLE, "body": Destination.ISSUE_BODY},
    ),
    (
        "POST",
        re.compile(_REPO + r"/statuses/[0-9a-fA-F]+"),
        {"description": Destination.STATUS, "target_url": None},
    ),
    (
        "POST",
        re.compile(_REPO + r"/deployments"),
        {"description": Destination.DEPLOYMENT, "payload": None},
    ),
    (
        "POST",
        re.compile(_REPO + r"/deployments/\d+/statuses"),
        {"description": Destination.DEPLOYMENT, "log_url": None, "environment_url": None},
    ),
)


def text_fields(method: str, path: str) -> Mapping[str, Destination | None]:
    """The text fields of a write to `path` (relative to the API root), by destination."""
    for route_method, pattern, fields in _ROUTES:
        if method == route_method and pattern.fullmatch(path):
            return fields
    return {}


class OutboundTransport(httpx.BaseTransport):
    """An httpx transport that passes each write's text fields through `outbound` and then
    sends the request with `inner` (a plain `httpx.HTTPTransport` by default)."""

    def __init__(
        self,
        base_path: str,
        secrets: Iterable[str],
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self._base_path = base_path.rstrip("/")
        self.secrets = frozenset(secrets)
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(self._bounded(request))

    def close(self) -> None:
        self._inner.close()

    def _bounded(self, request: httpx.Request) -> httpx.Request:
        path = request.url.path
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path) :]
        fields = text_fields(request.method, path)
        if not fields:
            return request
        try:
            data: Any = json.loads(request.read() or b"null")
        except ValueError:
            return request
        if not isinstance(data, dict):
            return request
        changed = {
            name: (
                redact_value(data[name], self.secrets)
                if destination is None
                else outbound(data[name], destination, self.secrets)
            )
            for name, destination in fields.items()
            if isinstance(data.get(name), str) or (destination is None and name in data)
        }
        if all(data[name] == text for name, text in changed.items()):
            return request
        content = json.dumps({**data, **changed}).encode()
        headers = [
            (k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"
        ]
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=content,
            extensions=request.extensions,
        )
