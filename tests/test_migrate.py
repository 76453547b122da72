"""`infra migrate atlantis`: a team leaving Atlantis gets an infra.yaml, a report of what did
not carry over, and the list of files it can delete. The fixtures in tests/data/atlantis are
shaped like real repositories: a multi-project monorepo, workspaces with custom workflows, and
a terragrunt repo whose atlantis.yaml terragrunt-atlantis-config generated."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from infra_pipeline.commands.migrate import migrate_atlantis
from infra_pipeline.config import Config, load_config
from infra_pipeline.errors import InfraError
from infra_pipeline.onboarding.atlantis import translate

DATA = Path(__file__).parent / "data" / "atlantis"


def _repo(tmp_path: Path, name: str) -> Path:
    repo = tmp_path / name
    shutil.copytree(DATA / name, repo)
    (repo / ".git").mkdir()  # the repository's root, as a clone has it
    return repo


def _migrate(
    repo: Path, *, output: Path | None = None, workflows: bool = True
) -> tuple[Config, str]:
    report = repo.parent / f"{repo.name}-report.md"
    console = Console(file=io.StringIO(), width=200)
    code = migrate_atlantis(
        repo, output=output, force=False, console=console, workflows=workflows, report=report
    )
    assert code == 0
    return load_config(output or repo / "infra.yaml"), report.read_text()


def _section(report: str, title: str) -> str:
    return report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_monorepo_projects_become_layers_in_execution_order(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "monorepo")

    config, report = _migrate(repo)

    assert [(x.name, x.path, x.order) for x in config.ordered_layers] == [
        ("prod-network", "live/prod/network", 1),
        ("staging-network", "live/staging/network", 2),
        ("prod-eks", "live/prod/eks", 3),  # group 2, after prod-network
        ("staging-eks", "live/staging/eks", 4),
        ("prod-apps", "live/prod/apps", 5),  # group 3, after prod-eks
    ]
    # when_modified outside the project's dir, made relative to the repository root.
    assert config.layers["prod-network"].watch == ("modules/vpc/**/*.tf",)
    assert config.layers["prod-eks"].watch == ("live/prod/network/outputs.tf",)
    # Each project's apply_requirements stay on its own layer.
    assert config.apply_requirements == ()
    assert {name: layer.apply_requirements for name, layer in config.layers.items()} == {
        "prod-network": ("approved", "mergeable"),
        "staging-network": ("mergeable",),
        "prod-eks": ("approved", "mergeable"),
        "staging-eks": ("mergeable",),
        "prod-apps": ("approved", "mergeable"),
    }
    assert "INFRA_TERRAFORM_VERSION=1.7.5" in _section(report, "Translated")
    # undiverged is covered, once, for the three projects that asked for it.
    assert "| prod-network, prod-eks, prod-apps | `apply_requirements: undiverged` |" in report
    missing = _section(report, "No equivalent")
    assert "automerge: true" in missing and "parallel_apply: true" in missing
    deletable = _section(report, "What you can delete")
    for path in (
        "atlantis.yaml",
        ".github/workflows/atlantis-config-check.yml",
        "deploy/atlantis/values.yaml",
        "k8s/atlantis-statefulset.yaml",
    ):
        assert f"`{path}`" in deletable
    assert "docs-links.yml" not in deletable and "grafana" not in deletable
    assert (repo / ".github/workflows/ci.yml").read_text().count("infra event") >= 1


def test_workspaces_and_custom_workflows_are_translated_or_reported(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "workspaces")

    config, report = _migrate(repo)

    assert [(x.name, x.path) for x in config.ordered_layers] == [
        ("app-staging", "app"),
        ("app-production", "app"),  # the same directory, its own workspace
        ("dns-zones", "dns"),  # from the name DNS/Zones
    ]
    assert config.layers["app-staging"].env == {
        "TF_IN_AUTOMATION": "true",
        "TF_CLI_ARGS_init": "-backend-config=envs/staging.backend.hcl",
        "TF_CLI_ARGS_plan": "-var-file envs/staging.tfvars",
        "TF_WORKSPACE": "staging",
    }
    assert config.layers["dns-zones"].env == {"TF_WORKSPACE": "prod"}
    assert config.jobs == 1  # parallel_plan: false
    # Each workspace keeps its own approval requirement; repos.yaml's (server-side) is global.
    assert config.layers["app-production"].env["TF_WORKSPACE"] == "production"
    assert config.layers["app-production"].apply_requirements == ("approved",)
    assert config.layers["app-staging"].apply_requirements == ()
    assert config.apply_requirements == ("approved",)
    assert config.layers["dns-zones"].autoplan is False
    (check,) = config.layers["app-staging"].steps.pre_plan
    assert (check.name, check.run, check.shell) == (
        "check-tags.sh",
        "./scripts/check-tags.sh",
        True,
    )
    translated = _section(report, "Translated")
    assert "| DNS/Zones | `autoplan.enabled: false` | the layer's `autoplan: false`" in translated
    assert "run ./scripts/check-tags.sh` | a `pre_plan` step `check-tags.sh`" in translated
    missing = _section(report, "No equivalent")
    for expected in (
        "| legacy | `dir: old/legacy` | no such directory",
        "apply -parallelism=2",
        "workflow staging, import",
        "terraform_version: 1.5.7, 1.6.6",
        "when_modified: !*.md",
        "when_modified: ../../shared/*.tf` | outside the repository",
        "plan: env AWS_PROFILE` | computed at run time",  # from a command
    ):
        assert expected in missing, expected
    deletable = _section(report, "What you can delete")
    assert "`repos.yaml`" in deletable
    # It only says "Atlantis" in a comment: a team's fmt check is not an Atlantis workflow.
    assert "terraform.yml" not in deletable


def test_terragrunt_repo_keeps_dependency_chains(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "terragrunt")

    config, report = _migrate(repo)

    assert [(x.name, x.engine.value, x.order) for x in config.ordered_layers] == [
        ("prod-us-east-1-vpc", "terragrunt", 1),
        ("prod-us-east-1-rds", "terragrunt", 2),
        ("prod-us-east-1-app", "terragrunt", 3),
        ("atlantis-server", "terraform", 4),
    ]
    assert config.layers["prod-us-east-1-rds"].watch == (
        "terragrunt.hcl",
        "prod/us-east-1/vpc/terragrunt.hcl",
    )
    text = (repo / "infra.yaml").read_text()
    assert config.layers["prod-us-east-1-app"].depends_on == ("prod-us-east-1-rds",)
    assert "  prod-us-east-1-app:\n" in text
    missing = _section(report, "No equivalent")
    assert "`depends_on: prod/us-east-1/cdn` | no such project migrated" in missing
    assert "custom_policy_check" in missing
    assert (
        "conftest test --policy policies/ $SHOWFILE` | infra evaluates the `policies` Rego"
        in missing
    )
    # The run steps that call terragrunt are what `engine: terragrunt` does: translated.
    assert "terragrunt plan" not in missing
    assert "terragrunt apply -input=false $PLANFILE` | infra runs init, plan, show and apply" in (
        _section(report, "Translated")
    )
    assert all(not layer.steps.post_plan for layer in config.layers.values())
    deletable = _section(report, "What you can delete")
    assert "`.github/workflows/atlantis-comment.yml`" in deletable
    assert "`terraform/atlantis/main.tf`: Terraform that deploys the Atlantis server" in deletable


def test_nothing_is_overwritten_without_force(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "monorepo")
    (repo / "infra.yaml").write_text("# ours\n")
    console = Console(file=io.StringIO())

    with pytest.raises(InfraError, match="not overwriting"):
        migrate_atlantis(repo, output=None, force=False, console=console)

    assert (repo / "infra.yaml").read_text() == "# ours\n"
    assert not (repo / ".github/workflows/ci.yml").exists()
    migrate_atlantis(repo, output=None, force=True, console=console)
    assert load_config(repo / "infra.yaml").layers


def test_no_workflows_and_a_config_in_a_subdirectory(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "terragrunt")
    output = repo / "infra" / "infra.yaml"
    output.parent.mkdir()

    config, _ = _migrate(repo / "atlantis.yaml", output=output, workflows=False)

    assert config.layers["atlantis-server"].path == "../terraform/atlantis"
    assert not (repo / ".github/workflows/ci.yml").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("projects: []\n", "not an Atlantis repo config of version 3"),
        ("version: 3\nprojects:\n  - name: x\n", "project #1 \\(x\\): `dir` is missing or blank"),
        ("version: 3\nprojects:\n  - dir: nowhere\n", "no project whose directory exists"),
        (
            "version: 3\nprojects:\n  - {dir: a, depends_on: [b]}\n  - {dir: b, depends_on: [a]}\n",
            "a, b depend on each other in a cycle",
        ),
    ],
)
def test_unusable_configs_are_refused_with_the_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "atlantis.yaml").write_text(text)

    with pytest.raises(InfraError, match=message):
        migrate_atlantis(tmp_path, output=None, force=False, console=Console(file=io.StringIO()))
    assert not (tmp_path / "infra.yaml").exists()


def test_a_directory_without_atlantis_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match=r"no atlantis\.yaml"):
        migrate_atlantis(tmp_path, output=None, force=False, console=Console(file=io.StringIO()))


def test_each_workspace_of_a_directory_is_a_layer_and_depends_on_follows_it() -> None:
    migration = translate(
        {
            "version": 3,
            "projects": [
                {"name": "web-staging", "dir": "web", "workspace": "staging"},
                {"name": "web", "dir": "web"},
                {"name": "edge", "dir": "edge", "depends_on": ["web-staging"]},
                {"dir": "envs/prod/db", "execution_order_group": -1},
                {"name": "web-copy", "dir": "web"},  # Atlantis allows it, named: one state
            ],
        }
    )

    assert [(x.name, x.order, x.env) for x in migration.layers] == [
        ("db", 1, {}),  # the lowest execution_order_group goes first
        ("web-staging", 2, {"TF_WORKSPACE": "staging"}),
        ("web", 3, {}),
        ("edge", 4, {}),
    ]
    assert migration.layers[3].depends_on == ("web-staging",)
    lost = {n.setting: n.outcome for n in migration.notes if not n.equivalent}
    assert "the same directory and workspace as `web`" in lost["dir: web, workspace: default"]


def test_unnamed_workspaces_of_one_directory_are_named_after_both() -> None:
    # runatlantis/atlantis server/controllers/events/testdata/test-repos/simple-yaml.
    migration = translate(
        {
            "version": 3,
            "projects": [
                {"dir": ".", "workspace": "default"},
                {"dir": ".", "workspace": "staging"},
            ],
        }
    )
    assert [(x.name, x.path, x.env) for x in migration.layers] == [
        ("root", ".", {}),
        ("root-staging", ".", {"TF_WORKSPACE": "staging"}),
    ]
