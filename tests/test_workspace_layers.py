"""Layers that share a directory, one Terraform workspace each: what an Atlantis repository
with several projects on one `dir` (one workspace per environment) migrates to.

Real Terraform plans and applies both; each gets its own state, its own plan file and its own
`.terraform` (their `-backend-config`s may differ), and they never run side by side.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from homelab import base_env, infra
from infra_pipeline.config import load_config
from infra_pipeline.flows.dependencies import apart_layers


def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "app" / "main.tf").write_text(
        textwrap.dedent(
            """\
            terraform {
              backend "local" {}
            }
            resource "terraform_data" "env" {
              input = terraform.workspace
            }
            """
        )
    )
    (repo / "infra.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            layers:
              app:
                path: app
                order: 1
                env: {TF_CLI_ARGS_init: "-backend-config=path=default.tfstate"}
              app-staging:
                path: app
                order: 2
                env:
                  TF_WORKSPACE: staging
                  TF_CLI_ARGS_init: "-backend-config=path=staging.tfstate"
            """
        )
    )
    return repo


def inputs(state: Path) -> list[str]:
    resources = json.loads(state.read_text())["resources"]
    return [i["attributes"]["input"]["value"] for r in resources for i in r["instances"]]


def test_two_workspaces_of_one_directory_plan_and_apply_as_two_layers(tmp_path: Path):
    repo = repository(tmp_path)
    config = load_config(repo / "infra.yaml")
    assert apart_layers(config) == {
        "app": frozenset({"app-staging"}),
        "app-staging": frozenset({"app"}),
    }

    planned = infra(repo, "plan", "all", "--jobs", "2", "--detailed-exitcode", env=base_env())
    assert planned.code == 3, planned.out
    applied = infra(repo, "apply", "all", "--auto-approve", env=base_env())
    assert applied.code == 0, applied.out

    app = repo / "app"
    assert inputs(app / "default.tfstate") == ["default"]
    # Terraform keeps a non-default workspace of the local backend under terraform.tfstate.d.
    assert inputs(app / "terraform.tfstate.d" / "staging" / "terraform.tfstate") == ["staging"]
    assert infra(repo, "plan", "all", "--detailed-exitcode", env=base_env()).code == 0
