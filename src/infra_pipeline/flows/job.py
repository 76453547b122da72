"""What one `infra` process works with, built once and handed down: the config, the
environment, the Actions environment read from it (once, by `main.Invocation`), the GitHub
client, the terminal and the clock. A flow reads these from the `Job`, never from
`os.environ`, a `GITHUB_*` variable or `datetime.now()`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from msgspec import Struct
from rich.console import Console

from ..adapters.actions_env import ActionsEnv
from ..adapters.github.client import GitHub
from ..config import Config


def utcnow() -> datetime:
    """The one clock (tests pass another to a `Job`)."""
    return datetime.now(UTC)


class Job(Struct, frozen=True):
    config: Config
    env: Mapping[str, str]
    actions: ActionsEnv
    github: GitHub
    console: Console
    clock: Callable[[], datetime] = utcnow
