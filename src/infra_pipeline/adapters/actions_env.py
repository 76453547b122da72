"""The GitHub Actions environment, typed, and the checks a job makes before touching Terraform.

The one reader of `GITHUB_*` variables (a test holds every other module to it): the rest of
the package gets an `ActionsEnv` (or `ApiAccess`) built from the environment it was handed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from ..core.redact import secrets_in_env
from ..errors import ExitCode, InfraError
from ..records import shown

if TYPE_CHECKING:  # pydantic loads only once an event is to be handled (ignored ones start fast)
    from ..core.webhook_events import Event

# `core.outbound` (its records and patterns) is imported where something is written: the
# progress view imports this module before the first Terraform command, and writes nothing
# through outbound until a layer ends.


class ActionsEnv(Struct, frozen=True):
    """`GITHUB_*` variables of the job (GitHub Actions sets them; tests pass a dict), and the
    one writer of what the job hands back to Actions: the job summary, step outputs and log
    annotations all pass `core.outbound` (secrets masked, GitHub's size limits kept)."""

    event_name: str
    event_path: str
    repository: str
    server_url: str
    run_id: str
    run_attempt: str
    sha: str
    ref: str
    actor: str
    step_summary: str | None
    output: str | None
    ref_name: str = ""  # the branch or tag short name (`main`)
    secrets: frozenset[str] = frozenset()  # never shown (`__repr__`)

    def __repr__(self) -> str:
        return shown(self, "secrets")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionsEnv:
        return cls(
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event_path=env.get("GITHUB_EVENT_PATH", ""),
            repository=env.get("GITHUB_REPOSITORY", ""),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/"),
            run_id=env.get("GITHUB_RUN_ID", ""),
            run_attempt=env.get("GITHUB_RUN_ATTEMPT", "1"),
            sha=env.get("GITHUB_SHA", ""),
            ref=env.get("GITHUB_REF", ""),
            actor=env.get("GITHUB_ACTOR", ""),
            step_summary=env.get("GITHUB_STEP_SUMMARY") or None,
            output=env.get("GITHUB_OUTPUT") or None,
            ref_name=env.get("GITHUB_REF_NAME", ""),
            secrets=frozenset(secrets_in_env(env)),
        )

    @property
    def run_id_number(self) -> int:
        """The run id as a number (0 outside Actions)."""
        return int(self.run_id) if self.run_id.isdigit() else 0

    @property
    def run_url(self) -> str:
        if not self.run_id:
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def payload(self) -> dict[str, Any]:
        if not self.event_path:
            raise InfraError(
                "GITHUB_EVENT_PATH is not set, so there is no event to handle",
                "`infra event` runs inside GitHub Actions; locally use `infra plan` etc.",
                ExitCode.USAGE,
            )
        try:
            data = json.loads(Path(self.event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InfraError(
                f"cannot read the event payload at {self.event_path}: {exc}",
                "check the workflow: GitHub Actions writes this file itself",
            ) from exc
        if not isinstance(data, dict):
            raise InfraError(f"event payload at {self.event_path} is not a JSON object")
        return data

    def event(self) -> Event:
        """The job's event, read and parsed once into its typed record."""
        from ..core.webhook_events import parse_event

        return parse_event(self.event_name, self.payload())

    def write_output(self, name: str, value: str) -> None:
        """One step output; a value too big for GitHub is refused (a cut one would be wrong
        data for the next job), a secret in it masked."""
        if not self.output:
            return
        from ..core.outbound import LIMITS, Destination, measure, redact_text

        value = redact_text(value, self.secrets)
        limit = LIMITS[Destination.OUTPUT]
        if measure(value, limit.unit) > limit.most:
            raise InfraError(
                f"the step output `{name}` is {measure(value, limit.unit):,} {limit.unit}, "
                f"more than GitHub's {limit.most:,}",
                "use the scale-out variant with fewer layers per job, or read the result file",
            )
        with Path(self.output).open("a", encoding="utf-8") as fh:
            fh.write(f"{name}={value}\n")

    def append_summary(self, markdown: str) -> None:
        """Append to the job summary: redacted, and cut so that the whole file stays within
        GitHub's 1 MiB (beyond which GitHub drops the summary entirely)."""
        if not self.step_summary:
            return
        from ..core.outbound import LIMITS, Destination, cap_to, redact_text

        path = Path(self.step_summary)
        used = path.stat().st_size if path.exists() else 0
        room = LIMITS[Destination.SUMMARY].most - used - 2
        text = cap_to(redact_text(markdown.rstrip("\n"), self.secrets), Destination.SUMMARY, room)
        if text:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(text + "\n\n")

    def annotate(
        self,
        severity: str,
        message: str,
        *,
        title: str,
        file: str | None = None,
        line: int | None = None,
    ) -> str:
        """`annotation` with the job's secrets masked (the caller prints the line)."""
        return annotation(
            severity, message, title=title, file=file, line=line, secrets=self.secrets
        )


class ApiAccess(Struct, frozen=True):
    """Where and as whom the GitHub client talks: `GITHUB_TOKEN`, `GITHUB_REPOSITORY` and
    `GITHUB_API_URL` (empty strings when unset; the client says what is missing)."""

    token: str  # never shown (`__repr__`)
    repository: str
    api_url: str  # "" for github.com's

    def __repr__(self) -> str:
        return shown(self, "token")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiAccess:
        return cls(
            env.get("GITHUB_TOKEN", ""),
            env.get("GITHUB_REPOSITORY", ""),
            env.get("GITHUB_API_URL", ""),
        )


def run_id_of(env: Mapping[str, str]) -> str:
    """`GITHUB_RUN_ID` of an environment handed to a child process ("" outside Actions)."""
    return env.get("GITHUB_RUN_ID", "")


def workspace_sha(root: Path) -> str | None:
    """The commit checked out at `root`, or None when it is not a git work tree."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def require_workspace_at(root: Path, head_sha: str) -> None:
    """Refuse to plan or apply anything but the PR's head commit.

    On `pull_request` events the default checkout is a test-merge commit and on `issue_comment`
    events it is the default branch's tip, so planning whatever happens to be checked out would
    plan code nobody reviewed.
    """
    found = workspace_sha(root)
    if found != head_sha:
        what = f"commit {found[:7]}" if found else "no git checkout"
        raise InfraError(
            f"the workspace has {what}, but the pull request's head is {head_sha[:7]}",
            "check out the PR head in the workflow: actions/checkout with "
            "`ref: ${{ github.event.pull_request.head.sha }}` (see `infra init`'s ci.yml)",
        )


# Workflow commands (https://docs.github.com/actions/reference/workflow-commands): how the
# runner reads `::group::`, `::error …::` and `::add-mask::` lines from a step's output.


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def group(title: str) -> str:
    return f"::group::{_data(title)}"


END_GROUP = "::endgroup::"


def annotation(
    severity: str,
    message: str,
    *,
    title: str,
    file: str | None = None,
    line: int | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """`::error file=…,line=…,title=…::message`, escaped as the runner expects, with the
    message redacted and bounded (`core.outbound.annotation`)."""
    from ..core import outbound

    where = line if file else None
    return outbound.annotation(severity, message, secrets, file=file, line=where, title=title)


def mask_commands(values: set[str]) -> list[str]:
    """`::add-mask::` lines for secret values; the runner masks a value line by line."""
    parts = {part.strip() for value in values for part in value.splitlines()}
    return [f"::add-mask::{part}" for part in sorted(parts) if len(part) >= 4]
