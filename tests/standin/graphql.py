"""The GraphQL mutations the client sends: `minimizeComment` and `unminimizeComment`.

GraphQL is not part of GitHub's REST description, so this module checks the request shape
itself; any other operation is a violation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from standin.routes import Reply

if TYPE_CHECKING:
    from standin.server import GitHubStandIn

CLASSIFIERS = {"SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED", "LOW_QUALITY"}
_MINIMIZE = re.compile(r"(?P<op>\b(?:un)?minimizeComment)\s*\(\s*input\s*:\s*\{(?P<input>[^}]*)\}")
_FIELD = re.compile(r"(\w+)\s*:\s*(\$\w+|\"[^\"]*\"|\w+)")


def _value(token: str, variables: dict[str, Any]) -> Any:
    if token.startswith("$"):
        return variables.get(token[1:])
    return token.strip('"')


def handle(gh: GitHubStandIn, body: Any) -> tuple[Reply, list[str]]:
    """Answer a GraphQL request; also return the problems found with it."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return Reply(400, {"message": "Problems parsing JSON"}), ["GraphQL body needs a query"]
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return Reply(400, {"message": "variables must be an object"}), ["bad GraphQL variables"]
    match = _MINIMIZE.search(body["query"])
    if match is None or not body["query"].lstrip().startswith("mutation"):
        problem = f"unsupported GraphQL operation: {body['query'][:80]!r}"
        return Reply(200, {"errors": [{"message": f"infra stand-in: {problem}"}]}), [problem]
    fields = {name: _value(token, variables) for name, token in _FIELD.findall(match["input"])}
    subject, classifier = fields.get("subjectId"), fields.get("classifier")
    op = match["op"]
    if op == "unminimizeComment":
        return _unminimize(gh, str(subject), sorted(set(fields) - {"subjectId"}))
    if classifier not in CLASSIFIERS:
        problem = f"minimizeComment classifier {classifier!r} is not a ReportedContentClassifiers"
        return Reply(200, {"errors": [{"message": problem}]}), [problem]
    comment = gh.find_comment_by_node_id(str(subject))
    if comment is None:
        error = {
            "type": "NOT_FOUND",
            "path": ["minimizeComment"],
            "message": f"Could not resolve to a node with the global id of '{subject}'",
        }
        return Reply(200, {"data": {"minimizeComment": None}, "errors": [error]}), []
    comment.minimized_reason = str(classifier)
    data = {"minimizeComment": {"minimizedComment": {"isMinimized": True}}}
    return Reply(200, {"data": data}), []


def _unminimize(gh: GitHubStandIn, subject: str, extra: list[str]) -> tuple[Reply, list[str]]:
    """`unminimizeComment(input: {subjectId})`: UnminimizeCommentInput has no other field."""
    if extra:
        problem = f"unminimizeComment takes only subjectId, got {extra}"
        return Reply(200, {"errors": [{"message": problem}]}), [problem]
    comment = gh.find_comment_by_node_id(subject)
    if comment is None:
        error = {
            "type": "NOT_FOUND",
            "path": ["unminimizeComment"],
            "message": f"Could not resolve to a node with the global id of '{subject}'",
        }
        return Reply(200, {"data": {"unminimizeComment": None}, "errors": [error]}), []
    comment.minimized_reason = None
    data = {"unminimizeComment": {"unminimizedComment": {"isMinimized": False}}}
    return Reply(200, {"data": data}), []
