"""The policy half of a pull request's `infra.yaml`, read from its base commit.

The pure rule is `core/policy.merge_policy`; this module fetches the base commit's copy through
the contents API (the job's checkout has only the head) and finds the file's path in the
repository with `git rev-parse`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from ..config import CONFIG_NAME, Config, parse_config
from ..core.policy import merge_policy
from ..errors import ConfigError, InfraError
from .github.client import GitHub


def policy_at_base(
    head: Config, github: GitHub, base_sha: str, log: Callable[[str], None]
) -> Config:
    """`head` with the policy of its own file at commit `base_sha`, fetched from GitHub (the
    job's checkout has only the head). What was overruled goes to `log`."""
    source = head.source or head.root / CONFIG_NAME
    path = repo_path(source)
    text = github.get_file(path, base_sha)
    base = None
    if text is not None:
        try:
            base = parse_config(text, source, check_paths=False)
        except ConfigError as exc:
            raise InfraError(
                f"{path} at the base commit {base_sha[:7]} is invalid, and the policy of a pull "
                f"request comes from there: {exc.message}",
                "fix infra.yaml on the base branch first",
                exc.exit_code,
            ) from exc
    policy = merge_policy(head, base, present=lambda layer: head.layer_dir(layer).is_dir())
    for note in policy.notes:
        log(f"infra: policy: {note} ({path} at {base_sha[:7]})")
    return policy.config


def repo_path(file: Path) -> str:
    """`file` as a path from the root of the git checkout it is in (what the contents API
    takes). A file outside any checkout has no such path: that is an error, since the policy
    could not be found."""
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
        return file.resolve().relative_to(top).as_posix()
    except ValueError as exc:
        raise _outside_checkout(file, f"not under {top}") from exc


def _outside_checkout(file: Path, why: str) -> InfraError:
    return InfraError(
        f"cannot tell where {file} sits in the repository ({why}), so the pull request's "
        "policy cannot be read from its base commit",
        "run the job in a git checkout of the repository (actions/checkout)",
    )
