"""The shipped workflows: linted as GitHub would run them, audited for security, and held to
the events `infra event` handles."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from infra_pipeline import templates
from infra_pipeline.commands.init import init_repo
from infra_pipeline.events_supported import (
    DISPATCH_COMMANDS,
    DISPATCH_INPUTS,
    HANDLED_EVENTS,
    is_handled,
)

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "homelab"
PR_JOB_EVENTS = ("ci.yml", "ci-matrix.yml")  # the two variants of the one entry workflow


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make venv` installs the dev extras")
    return found


def _with_the_action(repo: Path) -> None:
    """This repository's action beside the workflows, so that actionlint checks every `with:`
    against its inputs (it cannot read a remote action)."""
    shutil.copy(ROOT / "action.yml", repo / "action.yml")
    shutil.copytree(ROOT / "action", repo / "action")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)


def _rendered(tmp_path: Path, action: str = "./") -> list[Path]:
    """Every template as `infra init` would write it, in a repository layout."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    _with_the_action(tmp_path)
    values = templates.TemplateValues(
        default_branch="main", config_path="infra/infra.yaml", action=action
    )
    paths = []
    for name in templates.NAMES:
        path = workflows / name
        path.write_text(templates.render(name, values))
        paths.append(path)
    return paths


def _load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load(templates.render(name, templates.TemplateValues()))
    data["on"] = data.pop(True)  # PyYAML reads the bare key `on` as the boolean True
    return data


def test_actionlint_accepts_every_shipped_workflow(tmp_path: Path) -> None:
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", *map(str, _rendered(tmp_path))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_accepts_what_init_writes_for_the_example(tmp_path: Path) -> None:
    repo = tmp_path / "homelab"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (repo / "infra.yaml").unlink()
    _with_the_action(repo)
    init_repo(repo, force=False, console=Console(file=io.StringIO()), action="./")
    files = sorted((repo / ".github" / "workflows").glob("*.yml"))

    result = subprocess.run(
        [_tool("actionlint"), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        cwd=repo,
    )

    assert [f.name for f in files] == ["ci.yml", "docs.yml"]
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_at_medium_severity_or_above(tmp_path: Path) -> None:
    # As a team pins it: the action by commit, with its version as a comment.
    _rendered(tmp_path, action=f"{templates.ACTION_REPOSITORY}@{'0123abcd' * 5}")
    result = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--format=json",
            "--min-severity=medium",
            str(tmp_path / ".github" / "workflows"),
            str(ROOT / "action.yml"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", [*templates.NAMES, "action.yml"])
def test_each_accepted_zizmor_finding_says_why(name: str) -> None:
    text = (ROOT / name).read_text() if name == "action.yml" else templates.raw(name)
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "zizmor: ignore[" in line:
            assert lines[number - 1].lstrip().startswith("#"), f"{name}:{number + 1} needs a why"


@pytest.mark.parametrize("name", [*templates.NAMES, "action.yml"])
def test_every_action_is_pinned_to_a_commit_with_its_version(name: str) -> None:
    text = (ROOT / name).read_text() if name == "action.yml" else templates.raw(name)
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)", text, re.MULTILINE)
    assert uses
    for action, comment in uses:
        if action == "__INFRA_ACTION__":
            continue  # infra init writes the tag, or `--action OWNER/REPO@SHA` (see below)
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+(\.\d+)*", comment), f"{action}: no version comment"


@pytest.mark.parametrize("name", templates.NAMES)
def test_no_expression_is_interpolated_into_a_shell_script(name: str) -> None:
    for job in _load(name)["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step.get("name", step)
        for step in job["steps"]:
            assert step.get("with", {}).get("persist-credentials", False) is False


@pytest.mark.parametrize("name", PR_JOB_EVENTS)
def test_the_workflow_triggers_on_exactly_the_events_infra_event_handles(name: str) -> None:
    on = _load(name)["on"]

    assert set(on) == set(HANDLED_EVENTS)
    for event, actions in HANDLED_EVENTS.items():
        trigger = on[event] if isinstance(on[event], dict) else {}  # schedule is a list
        assert tuple(trigger.get("types", ())) == actions, event
        for action in actions:
            assert is_handled(event, action)
    assert not is_handled("pull_request", "labeled")
    assert not is_handled("release", None)


@pytest.mark.parametrize("name", PR_JOB_EVENTS)
def test_dispatch_offers_the_commands_infra_runs(name: str) -> None:
    inputs = _load(name)["on"]["workflow_dispatch"]["inputs"]

    assert tuple(inputs) == DISPATCH_INPUTS
    assert tuple(inputs["command"]["options"]) == DISPATCH_COMMANDS
    assert inputs["layer"]["default"] == "all"


@pytest.mark.parametrize("name", PR_JOB_EVENTS)
def test_least_privilege_and_no_cancelled_applies(name: str) -> None:
    workflow = _load(name)

    assert workflow["permissions"] == {}  # everything is granted per job
    for job in workflow["jobs"].values():
        assert isinstance(job["permissions"], dict)  # never read-all / write-all
        if "write" in job["permissions"].values():
            # Jobs that change things queue behind each other and are never cancelled.
            assert job["concurrency"]["cancel-in-progress"] is False


def test_steps_with_the_same_name_do_the_same_thing() -> None:
    """The variants repeat some steps (a template cannot share them): they must not drift."""
    seen: dict[str, dict[str, Any]] = {}
    for name in templates.NAMES:
        for job in _load(name)["jobs"].values():
            for step in job["steps"]:
                key = step.get("name") or step.get("uses", "")
                if "run" in step and key in seen:
                    assert step["run"] == seen[key]["run"], f"{name}: {key}"
                seen.setdefault(key, step)


def test_the_scale_out_variant_fans_out_per_layer() -> None:
    jobs = _load(templates.CI_MATRIX)["jobs"]

    assert "infra layers --changed --json" in jobs["layers"]["steps"][-1]["run"]
    assert jobs["plan"]["strategy"]["matrix"]["layer"] == (
        "${{ fromJSON(needs.layers.outputs.layers) }}"
    )
    assert jobs["plan"]["strategy"]["fail-fast"] is False
    assert 'infra plan "$LAYER"' in jobs["plan"]["steps"][-2]["run"]
    assert jobs["dashboard"]["needs"] == ["layers", "plan"]
    assert jobs["dashboard"]["steps"][-1]["run"].startswith("infra dashboard refresh")


def test_init_writes_the_action_at_the_installed_version_or_the_commit_asked_for() -> None:
    version = templates.package_version()
    default = templates.render(templates.CI, templates.TemplateValues())
    assert f"      - uses: {templates.ACTION_REPOSITORY}@v{version}\n" in default
    sha = "0123abcd" * 5
    pinned = templates.render(templates.CI, templates.TemplateValues(action=f"me/infra@{sha}"))
    assert f"      - uses: me/infra@{sha} # v{version}\n" in pinned


def test_the_short_workflow_is_checkout_and_one_step_of_the_action() -> None:
    (job,) = _load(templates.CI)["jobs"].values()
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert uses == ["actions/checkout", templates.ACTION_REPOSITORY]
    assert "id-token: write" in templates.raw(templates.CI)  # the OIDC option, commented


def test_the_action_interpolates_no_expression_into_a_shell_script() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name", step)
    assert set(action["outputs"]) == {"layers", "changed"}
