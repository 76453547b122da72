"""The files that differ between two commits of the checkout, from git itself.

A merge group is no pull request, so GitHub has no file list for it; the checkout has both
commits (`fetch-depth: 0` in the workflow), and one `git diff` is cheaper than any API call.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import process


def changed_files(root: Path, base: str, head: str, env: Mapping[str, str]) -> list[str] | None:
    """Repo-relative paths changed from `base` to `head`, renames on both sides; None when
    the checkout cannot tell (not a git work tree, or a commit is missing: a shallow clone)."""
    top = process.run(["git", "rev-parse", "--show-toplevel"], cwd=root, env=env, timeout=30)
    if top.returncode != 0:
        return None
    diff = process.run(
        ["git", "diff", "--name-only", "--no-renames", "-z", base, head, "--"],
        cwd=Path(top.stdout.strip()),
        env=env,
        timeout=120,
    )
    if diff.returncode != 0:
        return None
    return [path for path in diff.stdout.split("\0") if path]
