"""`infra migrate atlantis` carries what teams rely on (issue 16): `autoplan.enabled`, each
project's `apply_requirements` on its own layer, custom workflows' `run` steps and workflow
hooks as `steps`, and the server-side `policies` as `policies`; what does not carry is named
with why. Table tests on `translate`, then two real-world server configs end to end (the
written infra.yaml loads with the real config loader)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from homelab import infra
from infra_pipeline.commands.migrate import migrate_atlantis
from infra_pipeline.commands.policy_test import run_policy_test
from infra_pipeline.config import Config, Stage, load_config
from infra_pipeline.errors import ExitCode
from infra_pipeline.onboarding.atlantis import Migration, translate
from infra_pipeline.onboarding.atlantis_server import server_config

DATA = Path(__file__).parent / "data" / "atlantis"


def migrate(
    projects: list[dict[str, Any]],
    workflows: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
    **kw: Any,
) -> Migration:
    data: dict[str, Any] = {"version": 3, "projects": projects}
    if workflows:
        data["workflows"] = workflows
    parsed = server_config(server, "repos.yaml") if server is not None else None
    return translate(data, server=parsed, **kw)


def notes(migration: Migration, equivalent: bool) -> dict[str, str]:
    return {n.setting: n.outcome for n in migration.notes if n.equivalent is equivalent}


# -- autoplan and apply requirements --------------------------------------------------------------


@pytest.mark.parametrize(
    ("autoplan", "expected"),
    [({"enabled": False}, False), ({"enabled": True}, None), (None, None)],
)
def test_autoplan_enabled_false_becomes_the_layers_autoplan(
    autoplan: dict[str, Any] | None, expected: bool | None
) -> None:
    project: dict[str, Any] = {"dir": "app"}
    if autoplan is not None:
        project["autoplan"] = {**autoplan, "when_modified": ["../modules/**/*.tf"]}

    migration = migrate([project])

    (layer,) = migration.layers
    assert layer.autoplan is expected
    assert layer.watch == (("modules/**/*.tf",) if autoplan else ())  # watch still maps
    if expected is False:
        assert "planned on `/plan` only" in notes(migration, True)["autoplan.enabled: false"]


def test_apply_requirements_stay_on_their_layer_and_the_servers_go_global() -> None:
    migration = migrate(
        [
            {"name": "prod", "dir": "prod", "apply_requirements": ["approved", "undiverged"]},
            {
                "name": "prod-blue",
                "dir": "prod",
                "workspace": "blue",
                "apply_requirements": ["mergeable"],
            },
            {"name": "dev", "dir": "dev", "plan_requirements": ["approved"]},
        ],
        server={
            "repos": [
                {"id": "/.*/", "apply_requirements": ["approved"]},
                {"id": "github.com/acme/infra", "allowed_overrides": ["apply_requirements"]},
            ]
        },
    )

    by_name = {layer.name: layer for layer in migration.layers}
    # Each workspace's layer keeps its own requirements.
    assert by_name["prod"].apply_requirements == ("approved",)
    assert by_name["prod-blue"].apply_requirements == ("mergeable",)
    assert by_name["dev"].apply_requirements == ()
    assert migration.settings["apply_requirements"] == ["approved"]
    same, lost = notes(migration, True), notes(migration, False)
    assert same["apply_requirements: [mergeable]"] == "`apply_requirements` of the layer"
    assert "stricter, never weaker" in same["allowed_overrides: apply_requirements"]
    assert "merged in order" in same["repos.yaml: 2 `repos` entries"]
    assert "commenter's role" in lost["plan_requirements"]


# -- custom workflows -----------------------------------------------------------------------------

WORKFLOW = {
    "plan": {
        "steps": [
            {"env": {"name": "TF_IN_AUTOMATION", "value": "true"}},
            {"run": "tflint --format compact"},
            "init",
            {"run": {"command": "./scripts/gen.sh", "shell": "bash", "shellArgs": "-euc"}},
            {"plan": {"extra_args": ["-lock=false"]}},
            {"run": "checkov -f $SHOWFILE --quiet"},
            {"multienv": {"command": "./creds.sh"}},
            {"env": {"name": "TOKEN", "command": "vault read -field=t secret/x"}},
        ]
    },
    "apply": {
        "steps": [
            {"run": "echo applying $PROJECT_NAME in $WORKSPACE by $USER_NAME"},
            "apply",
            {"run": "./notify.sh $PULL_NUM $HEAD_COMMIT"},
        ]
    },
    "import": {"steps": ["init", "import"]},
}


def test_run_steps_land_before_or_after_the_built_in_they_surround() -> None:
    migration = migrate(
        [{"name": "app", "dir": "app", "workspace": "blue", "workflow": "checks"}],
        {"checks": WORKFLOW},
    )

    (layer,) = migration.layers
    assert dict(layer.steps) == {
        "pre_plan": [
            {"name": "tflint", "run": "tflint --format compact", "shell": True},
            # Another shell than sh: its argv, run without a second shell.
            {"name": "gen.sh", "run": ["bash", "-euc", "./scripts/gen.sh"]},
        ],
        "post_plan": [
            {
                "name": "checkov",
                "run": 'export SHOWFILE="$INFRA_PLAN_JSON"; checkov -f $SHOWFILE --quiet',
                "shell": True,
            },
        ],
        "pre_apply": [
            {
                "name": "echo",
                "run": 'export PROJECT_NAME="$INFRA_LAYER" WORKSPACE=blue; '
                "echo applying $PROJECT_NAME in $WORKSPACE by $USER_NAME",
                "shell": True,
            }
        ],
        "post_apply": [
            {
                "name": "notify.sh",
                "run": 'export PULL_NUM="$INFRA_PR" HEAD_COMMIT="$INFRA_SHA"; '
                "./notify.sh $PULL_NUM $HEAD_COMMIT",
                "shell": True,
            }
        ],
    }
    assert layer.env == {
        "TF_IN_AUTOMATION": "true",
        "TF_CLI_ARGS_plan": "-lock=false",
        "TF_WORKSPACE": "blue",
    }
    same, lost = notes(migration, True), notes(migration, False)
    assert "before init" in same["workflow checks, plan: run ./scripts/gen.sh"]
    assert same["workflow checks, plan: init"] == "infra runs init, plan, show and apply itself"
    assert "infra's steps cannot" in lost["workflow checks, plan: multienv ./creds.sh"]
    assert "computed at run time" in lost["workflow checks, plan: env TOKEN"]
    assert (
        "$USER_NAME"
        in lost[
            "workflow checks, apply: run echo applying $PROJECT_NAME in $WORKSPACE by $USER_NAME"
        ]
    )
    assert "`import` blocks" in lost["workflow checks, import"]


def test_a_terragrunt_workflow_is_the_engine_and_a_workflow_without_plan_says_so() -> None:
    migration = migrate(
        [{"name": "tg", "dir": "tg", "workflow": "tg"}, {"name": "x", "dir": "x", "workflow": "x"}],
        {
            "tg": {
                "plan": {
                    "steps": [
                        {"run": "terragrunt plan -out $PLANFILE"},
                        {"run": "terragrunt show -json $PLANFILE > $SHOWFILE"},
                    ]
                }
            },
            "x": {"plan": {"steps": [{"run": "./plan.sh"}]}},
        },
    )

    tg, x = migration.layers
    assert tg.engine.value == "terragrunt" and not tg.steps
    assert [s["name"] for s in x.steps["pre_plan"]] == ["plan.sh"]
    assert "has no `plan` of its own" in notes(migration, True)["workflow x, plan: run ./plan.sh"]


def test_a_server_side_workflow_and_hooks_become_steps() -> None:
    migration = migrate(
        [{"name": "app", "dir": "app"}],
        server={
            "repos": [
                {
                    "id": "/.*/",
                    "workflow": "lint",  # the default workflow of projects without one
                    "pre_workflow_hooks": [
                        {"run": "/home/atlantis/hook.sh", "description": "Guard"},
                        {"run": "./gen-atlantis.sh", "commands": "apply"},
                    ],
                    "post_workflow_hooks": [{"run": "./report.sh $PULL_NUM", "commands": "plan"}],
                }
            ],
            "workflows": {"lint": {"plan": {"steps": ["init", "plan", {"run": "tflint"}]}}},
        },
        locate=lambda path: "ops/hook.sh" if path == "/home/atlantis/hook.sh" else None,
    )

    (layer,) = migration.layers
    assert layer.steps == {"post_plan": [{"name": "tflint", "run": "tflint", "shell": True}]}
    steps = migration.settings["steps"]
    assert steps["pre_plan"] == [
        {"name": "Guard", "run": 'cd "$INFRA_ROOT" && "$INFRA_ROOT"/ops/hook.sh', "shell": True}
    ]
    assert steps["pre_apply"][0]["run"] == 'cd "$INFRA_ROOT" && ./gen-atlantis.sh'
    assert steps["post_plan"][0]["run"] == (
        'cd "$INFRA_ROOT" && export PULL_NUM="$INFRA_PR"; ./report.sh $PULL_NUM'
    )
    assert (
        "is the repository's `ops/hook.sh`"
        in notes(migration, True)["pre_workflow_hooks: /home/atlantis/hook.sh"]
    )


def test_layer_step_names_do_not_clash_with_top_level_ones() -> None:
    migration = migrate(
        [{"name": "app", "dir": "app", "workflow": "w"}],
        {"w": {"plan": {"steps": [{"run": "tflint"}, "plan"]}}},
        server={
            "repos": [
                {"id": "/.*/", "pre_workflow_hooks": [{"run": "tflint", "description": "tflint"}]}
            ]
        },
    )

    assert migration.settings["steps"]["pre_plan"][0]["name"] == "tflint"
    assert migration.layers[0].steps["pre_plan"][0]["name"] == "tflint-2"


# -- policies -------------------------------------------------------------------------------------


def test_policy_sets_become_policies_and_owners_are_a_decision() -> None:
    migration = migrate(
        [{"name": "app", "dir": "app", "workflow": "p", "policy_check": False}],
        {
            "p": {
                "policy_check": {
                    "steps": ["show", {"policy_check": {"extra_args": ["--namespace", "cost"]}}]
                }
            }
        },
        server={
            "repos": [{"id": "/.*/", "policy_check": True}],
            "policies": {
                "owners": {"users": ["alice"], "teams": ["sre"]},
                "policy_sets": [
                    {"name": "cost", "path": "/atlantis/policies/cost", "source": "local"},
                    {"name": "gone", "path": "/srv/elsewhere", "source": "local"},
                ],
            },
        },
        locate_dir=lambda path: "policy/cost" if path.endswith("/cost") else None,
    )

    assert migration.settings["policies"] == {"paths": ["policy/cost/"], "namespaces": ["cost"]}
    same, lost = notes(migration, True), notes(migration, False)
    assert same["policy_sets: cost (/atlantis/policies/cost)"] == "`policies.paths`: `policy/cost`"
    assert "not in this repository" in lost["policy_sets: gone (/srv/elsewhere)"]
    owners = lost["policies.owners: @alice, team sre"]
    assert "a repository role" in owners and "decide the role" in owners
    assert "cannot opt out" in lost["policy_check: false"]


def test_policies_in_atlantis_yaml_are_named_as_doing_nothing() -> None:
    data = {"version": 3, "projects": [{"dir": "app"}], "policies": {"policy_sets": []}}

    migration = translate(data)

    assert (
        "server-side repo config only" in notes(migration, False)["policies: {'policy_sets': []}"]
    )


# -- real-world server configs, end to end --------------------------------------------------------


def run_migrate(tmp_path: Path, name: str) -> tuple[Config, str, str]:
    repo = tmp_path / name
    shutil.copytree(DATA / name, repo)
    (repo / ".git").mkdir()
    report = tmp_path / "report.md"
    console = Console(file=io.StringIO(), width=200)
    assert migrate_atlantis(repo, output=None, force=False, console=console, report=report) == 0
    text = (repo / "infra.yaml").read_text()
    return load_config(repo / "infra.yaml"), text, report.read_text()


def test_infracost_workflow_keeps_its_steps(tmp_path: Path) -> None:
    """infracost/infracost-atlantis's repos.yaml: a server-side workflow running infracost
    after the plan, and a hook cleaning up before it."""
    config, _, report = run_migrate(tmp_path, "infracost")

    app = config.layers["app"]
    assert [s.name for s in app.steps.at(Stage.POST_PLAN)] == ["infracost", "infracost-2"]
    breakdown = app.steps.at(Stage.POST_PLAN)[0]
    assert breakdown.shell and "--path=$PLANFILE" in str(breakdown.run)
    assert str(breakdown.run).startswith('export PLANFILE="$INFRA_PLANFILE" PULL_NUM="$INFRA_PR"')
    assert app.autoplan is False and app.apply_requirements == ("approved",)
    assert config.apply_requirements == ("mergeable",)
    (hook,) = config.steps.at(Stage.PRE_PLAN)
    assert hook.shell and str(hook.run).startswith('cd "$INFRA_ROOT" && export PULL_NUM=')
    assert config.policies is None  # its policy set lives on the server only: said so
    assert "infra does not set $BASE_REPO_NAME, $BASE_REPO_OWNER" in report
    assert "not in this repository (a path on the Atlantis server)" in report


def test_helm_repo_config_with_policies_and_a_hook(tmp_path: Path) -> None:
    """jonpulsifer/infra: the server config inside the Helm release's `repoConfig`, its policy
    set and hook mounted from the repository into the server."""
    config, text, report = run_migrate(tmp_path, "helm-policies")

    assert config.policies is not None
    assert config.policies.paths == ("k8s/apps/offsite/atlantis/policies/",)
    assert config.policies.namespaces == ("main",)  # default-deny.rego is `package main`
    (hook,) = config.steps.at(Stage.PRE_PLAN)
    assert hook.name == "Plan Hook"
    assert hook.run == 'cd "$INFRA_ROOT" && "$INFRA_ROOT"/k8s/apps/offsite/atlantis/plan-hook.sh'
    assert "policies.owners: @jonpulsifer" in report and "decide the role" in report
    assert "`k8s/apps/offsite/atlantis/helm-release.yaml`: deploys the Atlantis server" in report
    assert "policies:\n  paths: [k8s/apps/offsite/atlantis/policies/]" in text
    # The migrated `policies` run the repository's Rego unchanged: its default-deny denies.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "resource_changes": []}))
    out = io.StringIO()
    code = run_policy_test(
        plan,
        config=config,
        cwd=tmp_path,
        policy=(),
        namespaces=(),
        console=Console(file=out, width=200),
    )
    assert code == ExitCode.FAILURE
    assert "Default deny policy: All actions are denied." in out.getvalue()


@pytest.mark.parametrize(
    ("document", "found"),
    [
        ({"repos": [{"id": "/.*/"}]}, True),
        ({"spec": {"values": {"repoConfig": "repos:\n- id: /.*/\n"}}}, True),  # HelmRelease
        ({"repoConfig": "repos:\n- id: /.*/\n"}, True),  # the chart's values.yaml
        ({"repos": ["acme/infra", "acme/web"]}, False),  # another tool's list of repos
        ({"repos": [{"name": "web"}]}, False),
        ({"repoConfig": "repos: [\n"}, False),  # broken YAML inside
    ],
)
def test_the_server_config_is_told_from_other_yaml(document: dict[str, Any], found: bool) -> None:
    assert (server_config(document, "x.yaml") is not None) is found


ATLANTIS_WITH_CHECKS = """\
version: 3
projects:
  - name: app
    dir: app
    workflow: checks
workflows:
  checks:
    plan:
      steps:
        - run: echo "$WORKSPACE before the plan" >> ../steps.log
        - init
        - plan
        - run: test -s "$SHOWFILE" && echo "$PROJECT_NAME plan JSON is there" >> ../steps.log
    apply:
      steps:
        - apply
        - run: echo "applied $PROJECT_NAME" >> ../steps.log
"""


def test_a_migrated_custom_workflow_runs_its_steps_around_a_real_plan(tmp_path: Path) -> None:
    """The issue's story: an Atlantis config with a custom workflow, migrated, keeps its steps,
    and `infra plan` / `infra apply` run them around real Terraform."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app").mkdir()
    (repo / "app" / "main.tf").write_text('resource "terraform_data" "app" {\n  input = 1\n}\n')
    (repo / "atlantis.yaml").write_text(ATLANTIS_WITH_CHECKS)
    console = Console(file=io.StringIO(), width=200)
    assert migrate_atlantis(repo, output=None, force=False, console=console, workflows=False) == 0

    planned = infra(repo, "plan", "app")
    assert planned.code == 0, planned.out
    assert (repo / "steps.log").read_text().splitlines() == [
        "default before the plan",
        "app plan JSON is there",
    ]
    applied = infra(repo, "apply", "app", "--auto-approve")
    assert applied.code == 0, applied.out
    assert (repo / "steps.log").read_text().splitlines()[-1] == "applied app"


@pytest.mark.parametrize(
    ("shell_args", "argv"),
    [
        # The forms of server/core/config/raw/step.go: a list as it is, a string split on
        # spaces (runatlantis/atlantis 078d0a8).
        (["--verbose", "-c"], ["bash", "--verbose", "-c", "./gen.sh"]),
        ("-e -c", ["bash", "-e", "-c", "./gen.sh"]),
        (None, ["bash", "-c", "./gen.sh"]),
    ],
)
def test_a_run_steps_shell_args_keep_atlantis_s_forms(shell_args: Any, argv: list[str]) -> None:
    run: dict[str, Any] = {"command": "./gen.sh", "shell": "bash"}
    if shell_args is not None:
        run["shellArgs"] = shell_args
    migration = migrate(
        [{"dir": "app", "workflow": "w"}], {"w": {"plan": {"steps": ["init", {"run": run}]}}}
    )
    (layer,) = migration.layers
    assert dict(layer.steps)["pre_plan"] == [{"name": "gen.sh", "run": argv}]
