"""`infra e2e [SUITE]` (`/e2e smoke`): run an end-to-end suite and report its result."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.text import Text

from ..adapters.suites import E2EReport, SuiteStatus, choose_suite, run_suite
from ..config import Config
from ..core import md
from ..core.dashboard.model import Status

_ICON = {
    SuiteStatus.PASSED: "✅",
    SuiteStatus.FAILED: "❌",
    SuiteStatus.TIMED_OUT: "❌",
    SuiteStatus.CANCELLED: "⚠️",
}
_STATUS = {
    SuiteStatus.PASSED: Status.OK,
    SuiteStatus.FAILED: Status.FAILED,
    SuiteStatus.TIMED_OUT: Status.FAILED,
    SuiteStatus.CANCELLED: Status.STALE,
}
SHOWN_FAILURES = 20


def run_e2e(
    config: Config, suite: str | None, *, env: Mapping[str, str], console: Console
) -> E2EReport:
    """Run `suite` (default: `smoke_suite`, or the only suite), streaming its output to the
    console. An unknown suite raises InfraError listing the declared ones."""
    name = choose_suite(config, suite)
    console.rule(f"[bold]e2e[/] {name}")
    report = run_suite(
        config, name, env=env, on_line=lambda line: console.out(line, highlight=False)
    )
    console.rule()
    console.print(Text(summary(report), style="green" if report.ok else "red"))
    return report


def summary(report: E2EReport, *, duration: bool = True) -> str:
    """One line: `smoke passed: 12 passed, 1 skipped in 34s`."""
    if report.status is SuiteStatus.TIMED_OUT:
        head = f"{report.suite} timed out after {report.timeout}s"
    elif report.status is SuiteStatus.CANCELLED:
        head = f"{report.suite} was cancelled"
    else:
        head = f"{report.suite} {report.status.value}"
    if report.junit is not None:
        j = report.junit
        parts = [
            f"{count} {word}"
            for count, word in (
                (j.passed, "passed"),
                (j.failed, "failed"),
                (j.errors, "errors"),
                (j.skipped, "skipped"),
            )
            if count or word == "passed"
        ]
        head += ": " + ", ".join(parts)
    elif report.returncode is not None:
        head += f": exit code {report.returncode}"
    return f"{head} in {report.duration:.0f}s" if duration else head


def render_markdown(report: E2EReport) -> str:
    """The PR reply: verdict, failed tests, and the output's tail when it helps."""
    parts = [f"### 🧪 E2E: {_ICON[report.status]} {md.cell(summary(report))}"]
    failures = report.junit.failures if report.junit is not None else ()
    if failures:
        items = [
            f"- {md.code(f.name)}" + (f": {md.cell(f.message)}" if f.message else "")
            for f in failures[:SHOWN_FAILURES]
        ]
        if len(failures) > SHOWN_FAILURES:
            items.append(f"- … and {len(failures) - SHOWN_FAILURES} more")
        parts.append("\n".join(items))
    if report.note:
        parts.append(f"_{md.cell(report.note)}_")
    if report.output_tail and (not report.ok or report.junit is None):
        parts.append(md.details("Output (last lines)", md.fenced(report.output_tail)))
    return "\n\n".join(parts)


def dashboard_cell(report: E2EReport) -> tuple[Status, str]:
    """The dashboard's `E2E` row (for `dashboard.finish_stage`)."""
    return _STATUS[report.status], summary(report, duration=False)
