"""End-to-end suites declared under `e2e:` in `infra.yaml`: run one, read its JUnit report.

A suite is any command (pytest, go test, a script). It runs in its `cwd` (relative to
infra.yaml) with `INFRA_ROOT` pointing at infra.yaml's directory, in its own process group
so that a timeout kills everything it started. When it writes the JUnit XML named by `junit:`
(relative to the suite's cwd) the report has test counts and failed test names; otherwise
the exit code and the output's tail.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from msgspec import Struct

from ..config import Config
from ..core.redact import redact, secrets_in_env
from ..errors import ExitCode, InfraError
from . import process
from .usercmd import run_user_command, tail

# A JUnit file bigger than this is not our suite's report; refuse rather than load it.
MAX_JUNIT_BYTES = 32 * 1024 * 1024
MAX_FAILURES = 100
TAIL_LINES = 30


class SuiteStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"


class TestFailure(Struct, frozen=True):
    __test__ = False  # not a pytest test class, despite the name

    name: str  # classname.name, as JUnit viewers show it
    message: str  # first line of the failure message


class JUnitSummary(Struct, frozen=True):
    passed: int
    failed: int
    skipped: int
    errors: int
    failures: tuple[TestFailure, ...]  # failed and errored tests, at most MAX_FAILURES

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors


class E2EReport(Struct, frozen=True):
    suite: str
    status: SuiteStatus
    duration: float
    returncode: int | None
    timeout: int
    junit: JUnitSummary | None
    output_tail: str  # secrets masked
    note: str = ""  # why the JUnit report was not used, when it was expected

    @property
    def ok(self) -> bool:
        return self.status is SuiteStatus.PASSED

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.FAILURE


class JUnitError(ValueError):
    """The JUnit file cannot be used; the message says why."""


def choose_suite(config: Config, requested: str | None) -> str:
    """The suite to run: the one asked for, else `smoke_suite`, else the only one declared."""
    names = list(config.e2e)
    if not names:
        raise InfraError(
            "no e2e suites are declared in infra.yaml",
            "add an `e2e:` section, e.g. `e2e: {smoke: {command: [pytest, e2e]}}`",
        )
    listing = ", ".join(f"`{n}`" for n in names)
    if requested is None:
        default = config.smoke_suite or (names[0] if len(names) == 1 else None)
        if default is None:
            raise InfraError("which e2e suite?", f"name one of {listing}, e.g. `/e2e {names[0]}`")
        return default
    if requested not in config.e2e:
        raise InfraError(f"unknown e2e suite `{requested}`", f"the suites are {listing}")
    return requested


def run_suite(
    config: Config,
    name: str,
    *,
    env: Mapping[str, str],
    on_line: process.LineSink | None = None,
) -> E2EReport:
    """Run suite `name`, streaming each output line to `on_line`. InfraError for an unknown
    suite, a missing cwd or a command that cannot start; a failing suite is a report."""
    suite = config.e2e.get(name)
    if suite is None:
        choose_suite(config, name)  # raises the "unknown suite" error listing the suites
        raise AssertionError("unreachable")
    cwd = (config.root / suite.cwd).resolve() if suite.cwd else config.root
    if not cwd.is_dir():
        raise InfraError(
            f"e2e suite `{name}`: cwd {suite.cwd!r} is not a directory",
            "set `cwd:` relative to infra.yaml",
        )
    junit = cwd / suite.junit if suite.junit else None
    if junit is not None:
        # A report left by an earlier run must never pass for this run's result.
        with contextlib.suppress(FileNotFoundError):
            junit.unlink()
    run_env = {**env, "INFRA_ROOT": str(config.root), **suite.env}
    result = run_user_command(
        suite.command, cwd=cwd, env=run_env, timeout=suite.timeout, on_line=on_line
    )

    summary: JUnitSummary | None = None
    note = ""
    if junit is not None:
        try:
            summary = parse_junit(junit)
        except FileNotFoundError:
            note = f"no JUnit report at {suite.junit}"
        except JUnitError as exc:
            note = f"JUnit report {suite.junit} not used: {exc}"

    if result.cancelled:
        status = SuiteStatus.CANCELLED
    elif result.timed_out:
        status = SuiteStatus.TIMED_OUT
    elif result.returncode == 0 and (summary is None or not summary.failed + summary.errors):
        status = SuiteStatus.PASSED
    else:
        status = SuiteStatus.FAILED
    return E2EReport(
        suite=name,
        status=status,
        duration=result.duration,
        returncode=None if result.timed_out or result.cancelled else result.returncode,
        timeout=suite.timeout,
        junit=summary,
        output_tail=redact(tail(result.output, TAIL_LINES), secrets_in_env(run_env)),
        note=note,
    )


def parse_junit(path: Path, max_bytes: int = MAX_JUNIT_BYTES) -> JUnitSummary:
    """Counts and failed tests from a JUnit XML file (pytest, go-junit-report, Jest, ...).

    Raises FileNotFoundError when absent and JUnitError when too big, malformed, or carrying
    a DTD (our suites never write one, and entity expansion is how XML files blow up).
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise JUnitError(f"{size} bytes is more than the {max_bytes} allowed")
    data = path.read_bytes()
    start = data.find(b"<testsuite")
    if start < 0:
        raise JUnitError("it has no <testsuites> or <testsuite> element")
    # A DTD can only sit in the prolog; test output later in the file may quote one.
    if b"<!DOCTYPE" in data[:start] or b"<!ENTITY" in data[:start]:
        raise JUnitError("it declares a DTD or entities")
    try:
        root = ET.fromstring(data)  # noqa: S314 - size-capped, DTD-free, written by our suite
    except ET.ParseError as exc:
        raise JUnitError(f"malformed XML ({exc})") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"root element is <{root.tag}>, not <testsuites> or <testsuite>")
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failures: list[TestFailure] = []
    for case in root.iter("testcase"):
        outcome = next(
            (child for child in case if child.tag in ("failure", "error", "skipped")), None
        )
        if outcome is None:
            counts["passed"] += 1
            continue
        key = {"failure": "failed", "error": "errors", "skipped": "skipped"}[outcome.tag]
        counts[key] += 1
        if outcome.tag != "skipped" and len(failures) < MAX_FAILURES:
            failures.append(TestFailure(_case_name(case), _first_line(outcome)))
    return JUnitSummary(**counts, failures=tuple(failures))


def _case_name(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "?")
    return f"{classname}.{name}" if classname else name


def _first_line(element: ET.Element) -> str:
    text = element.get("message") or (element.text or "").strip()
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:200]
