"""A stateful, OpenAPI-checked GitHub for tests (`GitHubStandIn`) and real webhook payloads
(`make_event`)."""

from standin.payloads import make_event
from standin.server import DEFAULT_REPO, Fault, GitHubStandIn, LoggedRequest
from standin.state import FileChange

__all__ = ["DEFAULT_REPO", "Fault", "FileChange", "GitHubStandIn", "LoggedRequest", "make_event"]
