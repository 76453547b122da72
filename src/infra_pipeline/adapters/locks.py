"""Layer locks without a server: one git ref per layer, created through the GitHub API.

Creating a ref that already exists fails, which makes ref creation GitHub's one atomic
compare-and-set. The ref points at a commit object whose message is the holder's JSON, so the
holder (PR, user, time, run) is readable from the lock itself. A PR keeps its locks from
`/apply` until it is merged or closed (or `/unlock`), as with Atlantis; an apply on the default
branch holds them only for the run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ..errors import InfraError

REF_NAMESPACE = "infra-locks"
MAIN = 0  # the holder "PR number" of applies on the default branch


class GitRefs(Protocol):
    """The part of `adapters.github.client.GitHub` locks need."""

    def create_ref(self, ref: str, sha: str) -> bool: ...
    def get_ref(self, ref: str) -> str | None: ...
    def delete_ref(self, ref: str) -> bool: ...
    def list_matching_refs(self, prefix: str) -> list[tuple[str, str]]: ...
    def get_commit_tree(self, sha: str) -> str: ...
    def get_commit_message(self, sha: str) -> str: ...
    def create_commit(self, message: str, tree: str, parents: list[str]) -> str: ...


@dataclass(frozen=True)
class Holder:
    pr: int
    user: str
    at: str  # ISO time the lock was taken
    run_url: str = ""
    sha: str = ""

    def describe(self, layer: str) -> str:
        who = "the default branch" if self.pr == MAIN else f"#{self.pr}"
        when = self.at[11:16] if len(self.at) >= 16 else self.at
        return f"`{layer}` is locked by {who} (applied by @{self.user} at {when} UTC)"


class LockState(StrEnum):
    ACQUIRED = "acquired"  # newly taken
    ALREADY_OURS = "already-ours"
    HELD = "held"  # by someone else


@dataclass(frozen=True)
class LockResult:
    layer: str
    state: LockState
    holder: Holder

    @property
    def ok(self) -> bool:
        return self.state is not LockState.HELD


def lock_ref(layer: str) -> str:
    return f"refs/{REF_NAMESPACE}/{layer}"


class Locks:
    def __init__(self, refs: GitRefs, is_open: PrIsOpen) -> None:
        self._refs = refs
        self._is_open = is_open
        self._trees: dict[str, str] = {}  # base sha -> tree: one read however many layers

    def holder(self, layer: str) -> Holder | None:
        sha = self._refs.get_ref(lock_ref(layer).removeprefix("refs/"))
        return None if sha is None else _read_holder(self._refs.get_commit_message(sha))

    def acquire(self, layer: str, holder: Holder, *, base_sha: str) -> LockResult:
        """Take `layer` for `holder`; a lock left by a closed PR is released and retaken once."""
        commit = ""
        for _attempt in range(2):
            current = self.holder(layer)
            if current is not None:
                if current.pr == holder.pr:
                    return LockResult(layer, LockState.ALREADY_OURS, current)
                if current.pr != MAIN and not self._is_open(current.pr):
                    self._refs.delete_ref(lock_ref(layer).removeprefix("refs/"))
                    continue
                return LockResult(layer, LockState.HELD, current)
            if not commit:
                if base_sha not in self._trees:
                    self._trees[base_sha] = self._refs.get_commit_tree(base_sha)
                commit = self._refs.create_commit(
                    _message(layer, holder), self._trees[base_sha], []
                )
            if self._refs.create_ref(lock_ref(layer), commit):
                return LockResult(layer, LockState.ACQUIRED, holder)
        current = self.holder(layer)
        if current is None:
            raise InfraError(
                f"could not take the lock on `{layer}`: it kept changing hands",
                "comment the command again in a minute",
            )
        return LockResult(layer, LockState.HELD, current)

    def release(self, layer: str, pr: int) -> bool:
        """Release `layer` if `pr` holds it; True when a lock was removed."""
        current = self.holder(layer)
        if current is None or current.pr != pr:
            return False
        return self._refs.delete_ref(lock_ref(layer).removeprefix("refs/"))

    def held(self) -> dict[str, Holder]:
        """Every lock that exists, by layer."""
        found: dict[str, Holder] = {}
        for ref, sha in self._refs.list_matching_refs(REF_NAMESPACE + "/"):
            layer = ref.rsplit("/", 1)[-1]
            holder = _read_holder(self._refs.get_commit_message(sha))
            if holder is not None:
                found[layer] = holder
        return found

    def release_all(self, pr: int) -> list[str]:
        """Release every lock `pr` holds (the PR was merged or closed)."""
        released = []
        for layer, holder in sorted(self.held().items()):
            if holder.pr == pr and self._refs.delete_ref(lock_ref(layer).removeprefix("refs/")):
                released.append(layer)
        return released


class PrIsOpen(Protocol):
    def __call__(self, number: int) -> bool: ...


_MESSAGE_PREFIX = "infra-pipeline lock\n\n"


def _message(layer: str, holder: Holder) -> str:
    return _MESSAGE_PREFIX + json.dumps({"layer": layer, **asdict(holder)}, sort_keys=True)


def _read_holder(message: str) -> Holder | None:
    try:
        data = json.loads(message.removeprefix(_MESSAGE_PREFIX))
        return Holder(
            pr=int(data["pr"]),
            user=str(data["user"]),
            at=str(data["at"]),
            run_url=str(data.get("run_url", "")),
            sha=str(data.get("sha", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def now_iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
