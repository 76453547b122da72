"""What Rego policies said about a plan, read the way conftest reads it, and whether `/apply`
may go ahead.

conftest's conventions, so that a team's existing policies work unchanged: in each configured
namespace (a Rego package, `main` by default) the rules `deny` and `violation` fail and `warn`
annotates, and so does every rule whose name starts with `deny_`, `violation_` or `warn_`. A
rule's messages are strings, or objects whose `msg` is the message (conftest's structured
form, `{"msg": ..., "details": ...}`); a rule that is simply `true` fails or warns with its
name as the message.

Pure: the engine's answer comes in as the JSON of `data.<namespace>` (adapters/rego.py), the
records go out; rendering them is core/dashboard's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from msgspec import Struct

_FAIL: Final = ("deny", "violation")
_WARN: Final = ("warn",)


class PolicyResult(Struct, frozen=True):
    """The policy check of one layer's plan."""

    layer: str
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.failures)


class Approval(Struct, frozen=True):
    """`/approve_policies` on one commit: who, and the failures it saw (a re-plan of the same
    commit that fails differently needs a new approval)."""

    login: str
    role: str
    failures: tuple[str, ...]  # "layer: message", as `failure_keys` makes them
    comment_id: int | None = None  # the `/approve_policies` comment, which `/apply` re-reads


def rule_kind(name: str) -> str | None:
    """`deny`/`violation` (fail), `warn`, or None for a rule conftest does not read."""
    for kind in (*_FAIL, *_WARN):
        if name == kind or name.startswith(kind + "_"):
            return "warn" if kind in _WARN else "deny"
    return None


def read_namespace(document: Any) -> tuple[list[str], list[str]]:
    """The failures and warnings in `document`, the value of `data.<namespace>` (None when the
    package does not exist: a namespace no file declares has nothing to say)."""
    failures: list[str] = []
    warnings: list[str] = []
    if not isinstance(document, Mapping):
        return failures, warnings
    for name in sorted(document):
        kind = rule_kind(name)
        if kind is None:
            continue
        messages = _messages(name, document[name])
        (failures if kind == "deny" else warnings).extend(messages)
    return failures, warnings


def result_of(layer: str, documents: Iterable[Any]) -> PolicyResult:
    """The result of one layer from the documents of each configured namespace; each message
    once, in the order the namespaces and rules gave them."""
    failures: list[str] = []
    warnings: list[str] = []
    for document in documents:
        fail, warn = read_namespace(document)
        failures += fail
        warnings += warn
    return PolicyResult(layer, tuple(dict.fromkeys(failures)), tuple(dict.fromkeys(warnings)))


def broken(layer: str, error: str) -> PolicyResult:
    """A layer whose policies could not be evaluated: that fails (closed), with why."""
    return PolicyResult(layer, failures=(f"the policies could not be evaluated: {error}",))


def _messages(rule: str, value: Any) -> list[str]:
    if value is True:
        return [rule]
    if value is False or value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        if "msg" in value:
            return [_text(value["msg"])]
        # regopy reads Rego v0's `deny[msg] { ... }` as a partial object whose values are
        # `true` and whose keys are the messages (an object message as its JSON text).
        if value and all(v is True for v in value.values()):
            return [_from_key(key) for key in value]
        return [_text(value)]
    if isinstance(value, list):
        return [m for item in value for m in _messages(rule, item)]
    return [_text(value)]


def _from_key(key: str) -> str:
    if key.startswith("{"):
        try:
            decoded = json.loads(key)
        except ValueError:
            return key
        if isinstance(decoded, Mapping) and "msg" in decoded:
            return _text(decoded["msg"])
    return key


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def failure_keys(
    results: Iterable[PolicyResult], layers: Sequence[str] | None = None
) -> tuple[str, ...]:
    """Every failure as "layer: message" (of `layers` only, when given)."""
    return tuple(
        f"{r.layer}: {message}"
        for r in results
        if layers is None or r.layer in layers
        for message in r.failures
    )


def unapproved(
    results: Iterable[PolicyResult], approval: Approval | None, layers: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The failures (of `layers`, when given) that `approval` did not see: what blocks
    `/apply`."""
    seen = set(approval.failures) if approval is not None else set()
    return tuple(key for key in failure_keys(results, layers) if key not in seen)
