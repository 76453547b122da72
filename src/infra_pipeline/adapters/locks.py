"""Layer locks without a server: one git ref per state, created through the GitHub API.

A lock protects a state, not a name: its key is the layer's normalised path plus its
`state_key` and Terraform workspace (`lock_keys`), so two names for one state (a PR that adds
`prod-copy` on `data-prod`'s directory) meet at the same ref. A ref under the namespace that
is not a lock this pipeline wrote is a lock held by an unknown writer: it is reported with its
name and how to delete it, never taken over, and only its layer waits.

Creating a ref that already exists fails, which makes ref creation GitHub's one atomic
compare-and-set. The ref points at a commit object whose message is the holder's JSON, so the
holder (PR, user, time, run) is readable from the lock itself. A PR keeps its locks from
`/apply` until it is merged or closed (or `/unlock`), as with Atlantis; an apply on the default
branch holds them only for the run.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from msgspec import Struct
from msgspec.structs import asdict

from ..config import Config
from ..errors import InfraError

REF_NAMESPACE = "infra-locks"
MAIN = 0  # the holder "PR number" of applies on the default branch
UNKNOWN = -1  # the holder "PR number" of a ref this pipeline did not write
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class GitRefs(Protocol):
    """The part of `adapters.github.client.GitHub` locks need."""

    def create_ref(self, ref: str, sha: str) -> bool: ...
    def get_ref(self, ref: str) -> str | None: ...
    def delete_ref(self, ref: str) -> bool: ...
    def list_matching_refs(self, prefix: str) -> list[tuple[str, str]]: ...
    def get_commit_tree(self, sha: str) -> str: ...
    def get_commit_message(self, sha: str) -> str: ...
    def create_commit(self, message: str, tree: str, parents: list[str]) -> str: ...


class Holder(Struct, frozen=True):
    pr: int
    user: str
    at: str  # ISO time the lock was taken
    run_url: str = ""
    sha: str = ""
    ref: str = ""  # where an unknown writer's ref is (only for those)
    layer: str = ""  # the layer name it was taken for (read back from the lock)

    @classmethod
    def unknown(cls, ref: str) -> Holder:
        return cls(pr=UNKNOWN, user="", at="", ref=ref)

    @property
    def short(self) -> str:
        """For the dashboard row: "locked by #12"."""
        if self.pr == UNKNOWN:
            return "locked by an unknown writer"
        return "locked by the default branch" if self.pr == MAIN else f"locked by #{self.pr}"

    def describe(self, layer: str) -> str:
        if self.pr == UNKNOWN:
            return (
                f"`{layer}` is held by an unknown writer: `{self.ref}` is not a lock this "
                "pipeline wrote. If nothing should hold it, delete it with "
                f"`git push origin :{self.ref}` (or the API: "
                f"`DELETE /repos/OWNER/REPO/git/{self.ref}`)"
            )
        who = "the default branch" if self.pr == MAIN else f"#{self.pr}"
        when = self.at[11:16] if len(self.at) >= 16 else self.at
        return f"`{layer}` is locked by {who} (applied by @{self.user} at {when} UTC)"


class LockState(StrEnum):
    ACQUIRED = "acquired"  # newly taken
    ALREADY_OURS = "already-ours"
    HELD = "held"  # by someone else


class LockResult(Struct, frozen=True):
    layer: str
    state: LockState
    holder: Holder

    @property
    def ok(self) -> bool:
        return self.state is not LockState.HELD


def lock_ref(key: str) -> str:
    """The ref of lock `key`: one flat name (a `/` would make `a` and `a/b` collide)."""
    safe = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), key)
    return f"refs/{REF_NAMESPACE}/{safe}"


def lock_key(path: str, state_key: str | None = None, workspace: str | None = None) -> str:
    """What a lock protects: the layer's directory, normalised, and the state in it."""
    key = posixpath.normpath(path.replace("\\", "/")).strip("/") or "."
    if state_key:
        key += "@" + state_key
    if workspace and workspace != "default":
        key += "#" + workspace
    return key


def lock_keys(config: Config) -> dict[str, str]:
    """Each layer's lock key. The directory is resolved (symlinks, `..`) relative to the
    config's root, so two spellings of one directory share a lock."""
    root = config.root.resolve()
    keys = {}
    for name, layer in config.layers.items():
        try:
            path = config.layer_dir(layer).relative_to(root).as_posix()
        except ValueError:
            path = layer.path
        keys[name] = lock_key(path, layer.state_key, layer.env.get("TF_WORKSPACE"))
    return keys


class Locks:
    def __init__(
        self, refs: GitRefs, is_open: PrIsOpen, keys: Mapping[str, str] | None = None
    ) -> None:
        self._refs = refs
        self._is_open = is_open
        self._keys = dict(keys or {})  # layer name -> lock key; the name itself by default
        self._trees: dict[str, str] = {}  # base sha -> tree: one read however many layers

    def ref(self, layer: str) -> str:
        return lock_ref(self._keys.get(layer, layer))

    def holder(self, layer: str) -> Holder | None:
        ref = self.ref(layer)
        sha = self._refs.get_ref(ref.removeprefix("refs/"))
        if sha is None:
            return None
        return _read_holder(self._refs.get_commit_message(sha)) or Holder.unknown(ref)

    def acquire(self, layer: str, holder: Holder, *, base_sha: str) -> LockResult:
        """Take `layer` for `holder`; a lock left by a closed PR is released and retaken once."""
        commit = ""
        for _attempt in range(2):
            current = self.holder(layer)
            if current is not None:
                if current.pr == holder.pr:
                    return LockResult(layer, LockState.ALREADY_OURS, current)
                if current.pr not in (MAIN, UNKNOWN) and not self._is_open(current.pr):
                    self._refs.delete_ref(self.ref(layer).removeprefix("refs/"))
                    continue
                return LockResult(layer, LockState.HELD, current)
            if not commit:
                if base_sha not in self._trees:
                    self._trees[base_sha] = self._refs.get_commit_tree(base_sha)
                commit = self._refs.create_commit(
                    _message(layer, holder), self._trees[base_sha], []
                )
            if self._refs.create_ref(self.ref(layer), commit):
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
        return self._refs.delete_ref(self.ref(layer).removeprefix("refs/"))

    def held(self) -> dict[str, Holder]:
        """Every lock on a known layer's state, by layer name (unknown writers included)."""
        by_ref = self._all()
        if not self._keys:  # no config: the ref's own name
            return {ref.rsplit("/", 1)[-1]: holder for ref, holder in by_ref.items()}
        found: dict[str, Holder] = {}
        for name, key in self._keys.items():
            holder = by_ref.get(lock_ref(key))
            if holder is not None:
                found[name] = holder
        return found

    def release_all(self, pr: int) -> list[str]:
        """Release every lock `pr` holds (the PR was merged or closed); the layers' names."""
        released = []
        for ref, holder in sorted(self._all().items()):
            if holder.pr == pr and self._refs.delete_ref(ref.removeprefix("refs/")):
                released.append(holder.layer or ref.rsplit("/", 1)[-1])
        return released

    def _all(self) -> dict[str, Holder]:
        found: dict[str, Holder] = {}
        for ref, sha in self._refs.list_matching_refs(REF_NAMESPACE + "/"):
            full = ref if ref.startswith("refs/") else f"refs/{ref}"
            holder = _read_holder(self._refs.get_commit_message(sha))
            found[full] = holder or Holder.unknown(full)
        return found


class PrIsOpen(Protocol):
    def __call__(self, number: int) -> bool: ...


_MESSAGE_PREFIX = "infra-pipeline lock\n\n"


def _message(layer: str, holder: Holder) -> str:
    data = {**asdict(holder), "layer": layer}
    data.pop("ref")
    return _MESSAGE_PREFIX + json.dumps(data, sort_keys=True)


def _read_holder(message: str) -> Holder | None:
    try:
        data = json.loads(message.removeprefix(_MESSAGE_PREFIX))
        return Holder(
            pr=int(data["pr"]),
            user=str(data["user"]),
            at=str(data["at"]),
            run_url=str(data.get("run_url", "")),
            sha=str(data.get("sha", "")),
            layer=str(data.get("layer", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def now_iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
