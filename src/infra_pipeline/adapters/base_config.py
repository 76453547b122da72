"""The policy half of a pull request's `infra.yaml`, read from the default branch.

The pure rule is `core/policy.merge_policy`; this module reads the default branch's copy and
finds the file's path in the repository with `git rev-parse`. Not the pull request's base
branch: a writer can open a pull request into a branch of their own whose `infra.yaml` relaxes
the rules, and its `/apply` would reach the same live layers.

The default branch's copy is read from the checkout's object store (`adapters/git_files`)
when GitHub's base commit of the pull request *is* the default branch's tip as the checkout
fetched it: two sources agreeing, since `base.sha` alone may be stale (GitHub leaves it where
it was when the pull request was opened) and a policy tightened on the default branch since
must apply. Otherwise, or in a shallow clone, it is fetched through the contents API.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from msgspec.structs import replace

from ..config import CONFIG_NAME, Config, parse_config
from ..core.policy import merge_policy
from ..errors import ConfigError, InfraError
from . import git_files


class FilesAtRef(Protocol):
    """The part of `adapters.github.client.GitHub` that reads a file of the base commit (the
    contents API): the policy read and CODEOWNERS."""

    def get_file(self, path: str, ref: str) -> str | None: ...


def policy_at(
    head: Config,
    github: FilesAtRef,
    ref: str,
    log: Callable[[str], None],
    *,
    tip: str | None = None,
) -> Config:
    """`head` with the policy of its own file at `ref` (the default branch). What was
    overruled goes to `log`.

    `tip`: the commit GitHub says `ref` is at (a pull request's `base.sha` when its base is
    `ref`); the file is read from the checkout when the checkout agrees, else from GitHub."""
    source = head.source or head.root / CONFIG_NAME
    top, path = checkout_path(source)
    local = git_files.file_at_tip(top, ref, tip, path)
    text = github.get_file(path, ref) if local is None else local.text
    base = None
    if text is not None:
        try:
            base = parse_config(text, source, check_paths=False)
        except ConfigError as exc:
            raise InfraError(
                f"{path} on {ref} is invalid, and the policy of every pull request comes from "
                f"there: {exc.message}",
                f"fix infra.yaml on {ref} first",
                exc.exit_code,
            ) from exc
    policy = merge_policy(head, base, present=lambda layer: head.layer_dir(layer).is_dir())
    for note in policy.notes:
        log(f"infra: policy: {note} ({path} on {ref})")
    if base is None:  # first adoption: nothing reviewed on `ref` yet
        return policy.config
    commit = tip if local is not None else None  # the checkout has it: read the rest there
    return replace(policy.config, policy_ref=ref, policy_commit=commit)


def repo_path(file: Path) -> str:
    """`file` as a path from the root of the git checkout it is in (what the contents API
    takes). A file outside any checkout has no such path: that is an error, since the policy
    could not be found."""
    return checkout_path(file)[1]


def checkout_path(file: Path) -> tuple[Path, str]:
    """The root of the git checkout `file` is in, and `file`'s path from there."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=file.parent,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _outside_checkout(file, str(exc)) from exc
    if result.returncode != 0:
        raise _outside_checkout(file, result.stderr.strip())
    top = Path(result.stdout.strip()).resolve()
    try:
        return top, file.resolve().relative_to(top).as_posix()
    except ValueError as exc:
        raise _outside_checkout(file, f"not under {top}") from exc


def _outside_checkout(file: Path, why: str) -> InfraError:
    return InfraError(
        f"cannot tell where {file} sits in the repository ({why}), so the pull request's "
        "policy cannot be read from its base commit",
        "run the job in a git checkout of the repository (actions/checkout)",
    )
