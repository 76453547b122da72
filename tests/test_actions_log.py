"""In GitHub Actions a run's log reads like a workflow's: a `::group::` per layer, failures as
`::error` annotations at Terraform's file and line, step outputs for later steps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homelab import base_env, copy_example, infra
from infra_pipeline.adapters.actions_env import annotation, mask_commands
from infra_pipeline.core.diagnostics import read_diagnostics

TERRAFORM_ERROR = """\
╷
│ Warning: Unable to open CLI configuration file
╵

Error: Unsupported argument

  on main.tf line 3, in resource "terraform_data" "x":
   3:   bogus = 2

An argument named "bogus" is not expected here.

Some later line of the log
"""


def test_errors_are_read_with_their_file_and_line_and_warnings_left_out() -> None:
    (diag,) = read_diagnostics(TERRAFORM_ERROR)
    assert (diag.summary, diag.filename, diag.line) == ("Unsupported argument", "main.tf", 3)
    assert diag.detail == 'An argument named "bogus" is not expected here.'


def test_workflow_commands_are_escaped() -> None:
    line = annotation("error", "50% done\nnext", title="a: b, c", file="x/main.tf", line=3)
    assert line == "::error file=x/main.tf,line=3,title=a%3A b%2C c::50%25 done%0Anext"
    assert mask_commands({"abcd1234\nsecond-line", "ab"}) == [
        "::add-mask::abcd1234",
        "::add-mask::second-line",
    ]


def _actions_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    output = tmp_path / "github_output"
    output.touch()
    return base_env(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(output)), output


@pytest.mark.terraform
def test_each_layer_is_a_group_and_the_step_outputs_name_the_layers(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    env, output = _actions_env(tmp_path)

    result = infra(root, "plan", "bootstrap", "platform", "--jobs", "2", env=env)

    assert result.code == 0, result.out
    lines = result.out.splitlines()
    opened = [line for line in lines if line.startswith("::group::")]
    assert sorted(opened) == ["::group::bootstrap: planning", "::group::platform: planning"]
    # Groups never nest: each one ends before the next begins.
    marks = [line for line in lines if line in opened or line == "::endgroup::"]
    assert marks == [opened[0], "::endgroup::", opened[1], "::endgroup::"]
    assert "📝 bootstrap: changes +" in result.out
    assert output.read_text().splitlines() == [
        'layers=["bootstrap","platform"]',
        "changed=true",
    ]


@pytest.mark.terraform
def test_a_failed_plan_is_an_annotation_at_terraforms_file_and_line(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    broken = root / "bootstrap" / "broken.tf"
    broken.write_text('resource "terraform_data" "broken" {\n  bogus = 1\n}\n')
    env, output = _actions_env(tmp_path)

    result = infra(root, "plan", "bootstrap", env=env)

    assert result.code == 1
    (error,) = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert re.fullmatch(
        r"::error file=bootstrap/broken\.tf,line=2,title=infra%3A planning bootstrap failed"
        r"::Unsupported argument: An argument named \"bogus\" is not expected here\.",
        error,
    ), error
    assert output.read_text().splitlines() == ['layers=["bootstrap"]', "changed=false"]


def test_infra_event_registers_the_jobs_secrets_as_masks(tmp_path: Path) -> None:
    payload = tmp_path / "event.json"
    payload.write_text('{"action": "labeled"}')
    env = base_env(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_EVENT_PATH=str(payload),
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )

    result = infra(tmp_path, "event", env=env)

    assert result.code == 0  # a labeled pull request is ignored, after the masks
    assert "::add-mask::wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" in result.out


# A successful plan of a value that reads like Terraform's own words, then a real warning
# (Terraform 1.11, `plan -no-color`: the heredoc's lines are the plan's, indented).
PLAN_WITH_LOOKALIKES = """\
Terraform will perform the following actions:

  # terraform_data.x will be created
  + resource "terraform_data" "x" {
      + input  = <<-EOT
            Warning: do not edit
            Error: not an error either
        EOT
    }

Plan: 1 to add, 0 to change, 0 to destroy.

Warning: Value for undeclared variable

The root module does not declare a variable named "nope" but a value was
found in file "terraform.tfvars".

╷
│ Warning: Boxed, as in colour
│
│ Its detail.
╵
"""


def test_a_plans_own_lines_are_never_read_as_diagnostics() -> None:
    found = read_diagnostics(PLAN_WITH_LOOKALIKES, warnings=True)
    assert [(d.severity, d.summary) for d in found] == [
        ("warning", "Value for undeclared variable"),
        ("warning", "Boxed, as in colour"),
    ]
    assert found[1].detail == "Its detail."
    assert read_diagnostics(PLAN_WITH_LOOKALIKES) == ()
