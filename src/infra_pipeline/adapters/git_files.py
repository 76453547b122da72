"""A file as a commit of the checkout holds it, from git's object store: exactly the commit's
bytes, whatever the work tree (the pull request's head) has at that path."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from msgspec import Struct

from ..errors import InfraError

_SHA: Final = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FILE_MODES: Final = ("100644", "100755")  # a symlink (120000) is no file to the contents API


class AtCommit(Struct, frozen=True):
    """What a commit has at a path: its text, or None when nothing there is a file."""

    text: str | None


def file_at_tip(top: Path, branch: str, tip: str | None, path: str) -> AtCommit | None:
    """`path` in commit `tip`, read from the checkout at `top`, if the checkout has `tip` as the
    head of `branch` (the remote-tracking `origin/BRANCH` that actions/checkout fetched, or else
    the local branch). None when it cannot tell: no `tip`, the branch elsewhere or missing (a
    shallow clone), or git failing: the caller asks GitHub then."""
    if tip is None or not _SHA.fullmatch(tip) or not branch:
        return None
    if _branch_head(top, branch) != tip:
        return None
    return file_at(top, tip, path)


def file_at(top: Path, commit: str, path: str) -> AtCommit | None:
    """`path` in `commit` (a full SHA), read from the checkout at `top`; None when the checkout
    does not have the commit (a shallow clone) or git fails: the caller asks GitHub then."""
    if not _SHA.fullmatch(commit):
        return None
    listed = _git(top, "ls-tree", "-z", "--full-tree", commit, "--", path)
    if listed is None:
        return None
    entry = listed.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if not entry:
        return AtCommit(None)
    meta, _, _name = entry.partition("\t")
    mode, kind, blob = [*meta.split(" "), "", "", ""][:3]
    if kind != "blob" or mode not in _FILE_MODES:
        return AtCommit(None)
    data = _git(top, "cat-file", "blob", blob)
    if data is None:
        return None
    try:
        return AtCommit(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InfraError(f"{path} at {commit[:12]} is not UTF-8 text: {exc}") from exc


def files_under(top: Path, commit: str, paths: Sequence[str]) -> dict[str, str] | None:
    """Every file at or below `paths` (repository paths) in `commit` (a full SHA), by path,
    read from the checkout at `top` in two git runs; None when the checkout does not have
    the commit or git fails: the caller asks GitHub then. A path naming nothing is absent
    from the answer; symlinks and submodules are no files (as for `file_at`)."""
    if not _SHA.fullmatch(commit) or not paths:
        return None
    wanted = [p.strip("/") or "." for p in paths]
    listed = _git(top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *wanted)
    if listed is None:
        return None
    blobs: dict[str, str] = {}
    for entry in listed.split(b"\0"):
        meta, _, name = entry.decode("utf-8", errors="replace").partition("\t")
        mode, kind, blob = [*meta.split(" "), "", "", ""][:3]
        if kind == "blob" and mode in _FILE_MODES:
            blobs[name] = blob
    if not blobs:
        return {}
    out = _git(top, "cat-file", "--batch", stdin="\n".join(blobs.values()).encode() + b"\n")
    if out is None:
        return None
    texts: dict[str, str] = {}
    at = 0
    for name, blob in blobs.items():
        header_end = out.find(b"\n", at)
        header = out[at:header_end].split(b" ")
        if header_end < 0 or len(header) != 3 or header[0] != blob.encode():
            return None  # not the answer asked for (a missing object): trust none of it
        size = int(header[2])
        data = out[header_end + 1 : header_end + 1 + size]
        at = header_end + 1 + size + 1
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InfraError(f"{name} at {commit[:12]} is not UTF-8 text: {exc}") from exc
    return texts


def _branch_head(top: Path, branch: str) -> str | None:
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        out = _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if out:
            return out.decode().strip()
    return None


def _git(top: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    """`git ARGS` in `top`: its stdout, or None when it failed."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=top, input=stdin, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None
