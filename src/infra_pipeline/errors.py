"""The one error type users can act on, and the process exit codes.

Library code raises `InfraError`; only the CLI layer (`main.py`) turns it into an exit code,
a terminal message, and (inside a PR) a short reply.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of every `infra` command (documented in `infra --help`)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    CHANGES = 3  # only with --detailed-exitcode: success, and some layer has changes


class InfraError(Exception):
    """An expected failure: the message says what went wrong, `hint` what to do about it."""

    def __init__(self, message: str, hint: str = "", exit_code: ExitCode = ExitCode.FAILURE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


class ConfigError(InfraError):
    """`infra.yaml` cannot be found or is invalid; always exit code 2."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message, hint, ExitCode.USAGE)
