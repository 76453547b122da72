"""`infra e2e`: real suites (pytest with JUnit, a hanging script) run in temporary repos."""

from __future__ import annotations

import io
import os
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from homelab import base_env, copy_example, infra
from infra_pipeline.adapters.suites import JUnitError, SuiteStatus, parse_junit, run_suite
from infra_pipeline.config import Config, load_config, parse_config
from infra_pipeline.core.dashboard.model import Status
from infra_pipeline.errors import ExitCode, InfraError
from infra_pipeline.flows.e2e import dashboard_cell, render_markdown, run_e2e
from infra_pipeline.flows.health import run_health


def make_config(root: Path, e2e_yaml: str) -> Config:
    (root / "layer").mkdir(exist_ok=True)
    text = "version: 1\nlayers: {app: {path: layer, order: 1}}\n" + textwrap.dedent(e2e_yaml)
    path = root / "infra.yaml"
    path.write_text(text)
    return parse_config(text, path)


SUITE = """
import os
import pytest

def test_root_is_passed():
    assert os.environ["INFRA_ROOT"]

def test_math():
    assert 1 + 1 == 2

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

def test_broken():
    assert {"layer": "data-prod"} == {"layer": "data-staging"}, "wrong layer"

def test_secret_in_output():
    print("token is", os.environ["DEPLOY_TOKEN"])
    raise RuntimeError("boom")
"""


PYTEST_SUITE = """
e2e:
  smoke:
    command: [python, -m, pytest, smoke, --junitxml=reports/smoke.xml, -q]
    cwd: e2e
    junit: reports/smoke.xml
    timeout: 120
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "e2e" / "smoke").mkdir(parents=True)
    (tmp_path / "e2e" / "smoke" / "test_smoke.py").write_text(SUITE)
    # Keep the suite's pytest out of this repository's pytest configuration.
    (tmp_path / "e2e" / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def test_pytest_suite_with_junit_reports_counts_and_failed_names(repo: Path):
    config = make_config(repo, PYTEST_SUITE)
    out = io.StringIO()
    env = {**os.environ, "DEPLOY_TOKEN": "tok-abcdef-123456"}
    report = run_e2e(config, "smoke", env=env, console=Console(file=out, width=120))

    assert report.status is SuiteStatus.FAILED and report.exit_code is ExitCode.FAILURE
    assert report.junit is not None
    j = report.junit
    assert (j.passed, j.failed, j.skipped, j.errors) == (2, 2, 1, 0)
    names = [f.name for f in j.failures]
    assert names == [
        "smoke.test_smoke.test_broken",
        "smoke.test_smoke.test_secret_in_output",
    ]
    assert "wrong layer" in j.failures[0].message
    assert "2 failed" in out.getvalue()  # pytest's own output was streamed
    reply = render_markdown(report)
    assert "### 🧪 E2E: ❌ smoke failed: 2 passed, 2 failed, 1 skipped" in reply
    assert "`smoke.test_smoke.test_broken`" in reply
    assert "tok-abcdef-123456" not in reply  # the tail is masked
    assert dashboard_cell(report) == (Status.FAILED, "smoke failed: 2 passed, 2 failed, 1 skipped")


def test_passing_suite_and_stale_report_is_not_reused(repo: Path):
    (repo / "e2e" / "smoke" / "test_smoke.py").write_text("def test_ok():\n    pass\n")
    reports = repo / "e2e" / "reports"
    reports.mkdir()
    config = make_config(repo, PYTEST_SUITE)
    report = run_suite(config, "smoke", env=dict(os.environ))
    assert report.ok and report.junit is not None and report.junit.passed == 1
    assert dashboard_cell(report) == (Status.OK, "smoke passed: 1 passed")

    # Now the suite crashes before writing a report: the old file must not count.
    (reports / "smoke.xml").write_text((reports / "smoke.xml").read_text())
    config = make_config(
        repo,
        """
        e2e:
          smoke: {command: [python, -c, "raise SystemExit(4)"], cwd: e2e, junit: reports/smoke.xml}
        """,
    )
    report = run_suite(config, "smoke", env=dict(os.environ))
    assert report.status is SuiteStatus.FAILED and report.junit is None
    assert report.returncode == 4
    assert report.note == "no JUnit report at reports/smoke.xml"


def test_suite_without_junit_reports_exit_code_and_tail(tmp_path: Path):
    config = make_config(
        tmp_path,
        """
        e2e:
          script:
            command: [python, -c, "print('checking'); print('service down'); raise SystemExit(2)"]
        """,
    )
    report = run_suite(config, "script", env=dict(os.environ))
    assert report.status is SuiteStatus.FAILED and report.returncode == 2
    assert report.output_tail.splitlines()[-1] == "service down"
    reply = render_markdown(report)
    assert "script failed: exit code 2" in reply
    assert "<details><summary>Output (last lines)</summary>" in reply and "service down" in reply


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for init counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_hanging_suite_is_killed_with_its_children(tmp_path: Path):
    # The suite starts a child that ignores SIGINT, as a shell's background job does.
    (tmp_path / "hang.py").write_text(
        textwrap.dedent(
            """
            import signal, subprocess, sys, time
            code = "import signal as s, time; s.signal(s.SIGINT, s.SIG_IGN); time.sleep(99)"
            child = subprocess.Popen([sys.executable, "-c", code])
            open("child.pid", "w").write(str(child.pid))
            print("started", flush=True)
            time.sleep(99)
            """
        )
    )
    # The timeout must leave the suite time to start its child and print "started": Python
    # alone takes a second to start on a loaded 2-core runner, so 2s was a race.
    config = make_config(tmp_path, "e2e:\n  stuck: {command: [python, hang.py], timeout: 8}\n")
    report = run_suite(config, "stuck", env=dict(os.environ))
    assert report.status is SuiteStatus.TIMED_OUT and report.returncode is None
    assert report.output_tail.startswith("started")
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), f"child {child} survived the timeout"
    assert "stuck timed out after 8s" in render_markdown(report)
    assert dashboard_cell(report) == (Status.FAILED, "stuck timed out after 8s")


def test_unknown_missing_and_default_suites(tmp_path: Path):
    config = make_config(
        tmp_path,
        """
        e2e:
          smoke: {command: [python, -c, "pass"]}
          full: {command: [python, -c, "pass"]}
        """,
    )
    with pytest.raises(InfraError) as info:
        run_e2e(config, "smok", env={}, console=Console(file=io.StringIO()))
    assert info.value.message == "unknown e2e suite `smok`"
    assert info.value.hint == "the suites are `smoke`, `full`"
    assert run_e2e(config, None, env=dict(os.environ), console=Console(file=io.StringIO())).ok

    (tmp_path / "bare").mkdir()
    bare = make_config(tmp_path / "bare", "")
    with pytest.raises(InfraError, match="no e2e suites"):
        run_suite(bare, "smoke", env={})


def test_command_that_cannot_start_is_an_infra_error(tmp_path: Path):
    config = make_config(tmp_path, "e2e:\n  smoke: {command: [./missing-runner]}\n")
    with pytest.raises(InfraError, match="cannot start"):
        run_suite(config, "smoke", env=dict(os.environ))


def test_junit_guards(tmp_path: Path):
    path = tmp_path / "r.xml"
    path.write_text("<testsuite><testcase name='a'>")
    with pytest.raises(JUnitError, match="malformed"):
        parse_junit(path)
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        "<testsuite><testcase name='&lol;'/></testsuite>"
    )
    with pytest.raises(JUnitError, match="DTD"):
        parse_junit(path)
    path.write_text("<testsuite>" + "<testcase name='x'/>" * 100 + "</testsuite>")
    with pytest.raises(JUnitError, match="more than"):
        parse_junit(path, max_bytes=1000)
    # Test output quoting a DTD inside the report is fine.
    path.write_text(
        "<testsuites><testsuite><testcase classname='web' name='page'>"
        "<failure message='bad page'><![CDATA[<!DOCTYPE html>]]></failure>"
        "</testcase></testsuite></testsuites>"
    )
    summary = parse_junit(path)
    assert summary.failed == 1 and summary.failures[0].name == "web.page"
    assert summary.failures[0].message == "bad page"


EXAMPLE_CHECKS = """
health:
  cluster: {command: [python, e2e/cluster_health.py, live/cluster.json], timeout: 10}
e2e:
  smoke:
    command: [python, -m, pytest, smoke, --junitxml=reports/smoke.xml, -q]
    cwd: e2e
    junit: reports/smoke.xml
    timeout: 300
"""


@pytest.mark.terraform
def test_example_smoke_suite_checks_every_applied_layer(tmp_path: Path):
    root = copy_example(tmp_path)
    config_path = root / "infra.yaml"
    if "\ne2e:" not in config_path.read_text():  # until the example's infra.yaml declares it
        config_path.write_text(config_path.read_text() + EXAMPLE_CHECKS)
    assert infra(root, "apply", "all", "--auto-approve").code == 0
    config = load_config(config_path)

    report = run_suite(config, "smoke", env=base_env())
    assert report.ok, report.output_tail
    assert report.junit is not None and report.junit.passed == 3 * len(config.layers)
    health = run_health(config, env=base_env(), console=Console(file=io.StringIO()))
    assert health.ok, health.results

    # Losing a layer's state is exactly what the smoke suite is there to notice.
    (root / "envs" / "prod" / "data" / "terraform.tfstate").unlink()
    report = run_suite(config, "smoke", env=base_env())
    assert report.status is SuiteStatus.FAILED
    assert report.junit is not None
    assert [f.name for f in report.junit.failures] == [
        "smoke.test_layers.test_state_has_resources[data-prod]",
        "smoke.test_layers.test_nothing_is_tainted[data-prod]",
        "smoke.test_layers.test_declared_outputs_are_in_state[data-prod]",
    ]
    assert "terraform.tfstate does not exist" in report.junit.failures[0].message
