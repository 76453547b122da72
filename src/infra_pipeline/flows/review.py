"""`infra review` (`/review`, `@claude`): an AI review of the PR, posted as a PR review.

Without an API key, or without the SDK (the `[review]` extra), the review is skipped, never
failed: a repository that has not set it up should see ⏭️ with the reason, not a red row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from msgspec import Struct
from rich.console import Console
from rich.text import Text

from ..adapters import llm
from ..config import Config
from ..core import md
from ..core.dashboard.model import Status
from ..core.redact import redact, secrets_in_env
from ..core.review_prompt import LayerSummary, Prompt, ReviewInput, build_prompt, review_body
from ..errors import ExitCode
from ..models import Outcome


class ReviewGitHub(Protocol):
    """The two calls a review needs (`adapters.github.client.GitHub` has them)."""

    def get_pull_diff(self, number: int) -> str: ...

    def create_review(self, number: int, body: str, event: Literal["COMMENT"] = ...) -> object: ...


class ReviewResult(Struct, frozen=True):
    outcome: Outcome  # OK (posted), SKIPPED (no key, nothing to review) or FAILED
    reason: str = ""  # why it was skipped or failed
    body: str = ""  # the review as posted
    model: str = ""
    prompt: Prompt | None = None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILURE if self.outcome is Outcome.FAILED else ExitCode.OK


def run_review(
    config: Config,
    *,
    pr_number: int,
    title: str,
    layers: Sequence[LayerSummary],
    touched_layers: Sequence[str],
    github: ReviewGitHub,
    env: Mapping[str, str],
    console: Console,
) -> ReviewResult:
    """Gather the diff, mask secrets, cut to the budget, ask the model, post a COMMENT review.

    `layers` are the plan summaries the dashboard holds for this commit. GitHub errors raise
    (InfraError from the client); a model that cannot be asked gives a FAILED result."""
    settings = config.review
    creds = llm.credentials(settings, env)
    if not creds.key:
        reason = f"no API key: set the {creds.key_env} secret to enable AI review"
        console.print(Text(f"AI review skipped: {reason}", style="yellow"))
        return ReviewResult(Outcome.SKIPPED, reason, model=settings.model)
    missing = llm.missing_sdk(settings)
    if missing:
        console.print(Text(f"AI review skipped: {missing}", style="yellow"))
        return ReviewResult(Outcome.SKIPPED, missing, model=settings.model)

    diff = github.get_pull_diff(pr_number)
    if not diff.strip() and not layers:
        return ReviewResult(
            Outcome.SKIPPED, "the pull request changes nothing", model=settings.model
        )
    review = ReviewInput(pr_number, title, diff, tuple(layers), tuple(touched_layers))
    secrets = {*secrets_in_env(env), creds.key}
    prompt = build_prompt(review, budget_tokens=settings.budget_tokens, secrets=secrets)
    console.print(
        f"Asking {settings.model} to review #{pr_number} "
        f"(~{prompt.estimated_tokens} tokens, {len(prompt.files_left_out)} file(s) left out)…",
        markup=False,
        highlight=False,
    )
    try:
        answer = llm.ask(settings, creds, system=prompt.system, user=prompt.user)
    except llm.ModelError as exc:
        reason = redact(str(exc), secrets)
        console.print(Text(f"AI review failed: {reason}", style="red"))
        return ReviewResult(Outcome.FAILED, reason, model=settings.model, prompt=prompt)
    body = review_body(review, redact(answer, secrets), model=settings.model, prompt=prompt)
    github.create_review(pr_number, body, event="COMMENT")
    console.print(Text(f"AI review posted on #{pr_number}", style="green"))
    return ReviewResult(Outcome.OK, body=body, model=settings.model, prompt=prompt)


def render_markdown(result: ReviewResult) -> str:
    """The reply for a skipped or failed review (a posted review speaks for itself)."""
    if result.outcome is Outcome.OK:
        return "🤖 AI review posted."
    icon = "⏭️" if result.outcome is Outcome.SKIPPED else "❌"
    return f"{icon} AI review {result.outcome.value}: {md.cell(result.reason)}"


def dashboard_cell(result: ReviewResult) -> tuple[Status, str]:
    """The dashboard's `AI Review` row (for `dashboard.finish_stage`): OK, SKIPPED (⏭️ with the
    reason, e.g. no API key) or FAILED."""
    if result.outcome is Outcome.OK:
        return Status.OK, f"reviewed by {result.model}"
    status = Status.FAILED if result.outcome is Outcome.FAILED else Status.SKIPPED
    return status, result.reason
