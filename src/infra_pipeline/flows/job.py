"""What one `infra` process works with, built once and handed down: the config, the
environment, the Actions environment read from it, the GitHub client, the terminal and the
clock. A flow reads these from the `Job`, never from `os.environ` or `datetime.now()`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console

from ..adapters.actions_env import ActionsEnv
from ..adapters.github.client import GitHub
from ..config import Config


def utcnow() -> datetime:
    """The one clock (tests pass another to a `Job`)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    config: Config
    env: Mapping[str, str]
    actions: ActionsEnv
    github: GitHub
    console: Console
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def build(
        cls,
        config: Config,
        env: Mapping[str, str],
        github: GitHub,
        console: Console,
        clock: Callable[[], datetime] = utcnow,
    ) -> Job:
        """The job of a process whose GitHub client is open: `ActionsEnv` read from `env`."""
        return cls(config, env, ActionsEnv.from_env(env), github, console, clock)
