"""Commands declared in `infra.yaml` (health `command` probes, e2e suites, kubeconfig `exec`).

They run through `process.run` like Terraform does, with two differences: `python` means the
interpreter running `infra`, and a timed-out command gets a short grace period, since unlike
Terraform it holds no state lock worth waiting for.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import process

GRACE_SECONDS = 5.0
_PYTHON_NAMES = ("python", "python3")


def resolve_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """`python`/`python3` as the program means `sys.executable`.

    In CI and in `make demo` that is the venv holding pytest and this package, which a bare
    `python` on PATH may not be.
    """
    if argv and argv[0] in _PYTHON_NAMES:
        return (sys.executable, *argv[1:])
    return tuple(argv)


def run_user_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_line: process.LineSink | None = None,
) -> process.ProcessResult:
    """Run `argv` (no shell) in its own process group; on timeout the whole group is killed."""
    return process.run(
        resolve_argv(argv), cwd=cwd, env=env, timeout=timeout, on_line=on_line, grace=GRACE_SECONDS
    )


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
