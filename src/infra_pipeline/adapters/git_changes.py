"""The files that differ between two commits of the checkout, from git itself.

A merge group is no pull request, so GitHub has no file list for it; a pull request has one,
but the checkout has both commits (`fetch-depth: 0` in the workflow), and one `git diff` is
cheaper than paging through the API. When a commit is missing (a shallow clone) the caller
asks GitHub instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import process


def changed_files(
    root: Path, base: str, head: str, env: Mapping[str, str], *, since_fork: bool = False
) -> list[str] | None:
    """Repo-relative paths changed from `base` to `head`, renames on both sides (a rename is a
    deletion and an addition, as GitHub lists its old and new path); None when the checkout
    cannot tell (not a git work tree, or a commit is missing: a shallow clone).

    `since_fork`: from where `head` forked off `base` (their merge base), as GitHub lists a
    pull request's files, so that what the base branch did since is not counted."""
    top = process.run(["git", "rev-parse", "--show-toplevel"], cwd=root, env=env, timeout=30)
    if top.returncode != 0:
        return None
    span = f"{base}...{head}" if since_fork else f"{base}..{head}"
    diff = process.run(
        ["git", "diff", "--name-only", "--no-renames", "-z", span, "--"],
        cwd=Path(top.stdout.strip()),
        env=env,
        timeout=120,
    )
    if diff.returncode != 0:
        return None
    return [path for path in diff.stdout.split("\0") if path]
