"""`infra init`: a team points it at its repository and gets a config it would have written."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from infra_pipeline.commands.init import init_repo
from infra_pipeline.config import Engine, load_config
from infra_pipeline.errors import InfraError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "homelab"


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, highlight=False), out


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _layers(root: Path) -> list[tuple[str, str, str, int]]:
    config = load_config(root / "infra.yaml")
    return [(x.name, x.path, x.engine.value, x.order) for x in config.ordered_layers]


def test_init_on_the_example_reproduces_its_layers(tmp_path: Path) -> None:
    repo = tmp_path / "homelab"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (repo / "infra.yaml").unlink()
    console, out = _console()

    assert init_repo(repo, force=False, console=console) == 0

    original = load_config(EXAMPLE / "infra.yaml")
    proposed = load_config(repo / "infra.yaml")
    assert [(x.name, x.path, x.order) for x in proposed.ordered_layers] == [
        (x.name, x.path, x.order) for x in original.ordered_layers
    ]
    # bootstrap reads live/cluster.json: a change there must plan it (the example watches
    # live/**; init watches the one file bootstrap reads).
    assert "live/cluster.json" in proposed.layers["bootstrap"].watch
    assert (repo / "infra.yaml").read_text().startswith("# yaml-language-server: $schema=")
    for name in ("ci.yml", "docs.yml"):
        assert (repo / ".github" / "workflows" / name).is_file()
    text = out.getvalue()
    assert "Wrote:" in text and ".github/workflows/ci.yml" in text and "Next steps" in text


def test_terragrunt_layers_follow_their_dependency_blocks(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            # The shared parent every unit includes: configuration, not a layer.
            "terragrunt.hcl": 'remote_state {\n  backend = "s3"\n}\n',
            "modules/vpc/main.tf": 'variable "cidr" {}\n',
            "live/app/terragrunt.hcl": (
                'include "root" {\n  path = find_in_parent_folders()\n}\n'
                'dependencies {\n  paths = ["../eks"]\n}\n'
            ),
            "live/eks/terragrunt.hcl": (
                'dependency "vpc" {\n  config_path = "${get_terragrunt_dir()}/../vpc"\n}\n'
            ),
            "live/vpc/terragrunt.hcl": 'terraform {\n  source = "../../modules//vpc"\n}\n',
        },
    )
    console, _ = _console()

    init_repo(tmp_path, force=False, console=console)

    assert _layers(tmp_path) == [
        ("vpc", "live/vpc", "terragrunt", 1),
        ("eks", "live/eks", "terragrunt", 2),
        ("app", "live/app", "terragrunt", 3),
    ]
    assert load_config(tmp_path / "infra.yaml").layers["app"].depends_on == ("eks",)


def test_module_dirs_caches_and_hidden_dirs_are_not_layers(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "prod/main.tf": 'module "net" {\n  source = "../shared/network"\n}\n',
            # Called as a module from prod, though not under modules/.
            "shared/network/main.tf": 'variable "cidr" {}\n',
            "prod/.terraform/modules/net/main.tf": 'variable "cidr" {}\n',
            ".hidden/main.tf": "",
            "modules/x/main.tf": "",
        },
    )
    console, _ = _console()

    init_repo(tmp_path, force=False, console=console)

    assert _layers(tmp_path) == [("prod", "prod", "terraform", 1)]


def test_remote_state_by_backend_key_orders_layers(tmp_path: Path) -> None:
    backend = 'terraform {{\n  backend "s3" {{\n    key = "{}"\n  }}\n}}\n'
    _write(
        tmp_path,
        {
            # "apps" sorts first by name; its remote state says it must come after "network".
            "apps/main.tf": (
                backend.format("apps/terraform.tfstate")
                + 'data "terraform_remote_state" "net" {\n  backend = "s3"\n'
                '  config = {\n    key = "net/terraform.tfstate"\n  }\n}\n'
            ),
            "network/main.tf": backend.format("net/terraform.tfstate"),
        },
    )
    console, _ = _console()

    init_repo(tmp_path, force=False, console=console)

    assert [name for name, *_ in _layers(tmp_path)] == ["network", "apps"]


def test_ambiguous_directory_names_take_their_parents(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "live/prod/us-east-1/vpc/main.tf": "",
            "live/staging/us-east-1/vpc/main.tf": "",
            "live/dev/eu-west-1/vpc/main.tf": "",
            "global/IAM Roles/main.tf": "",
        },
    )
    console, _ = _console()

    init_repo(tmp_path, force=False, console=console)

    assert [(name, order) for name, _, _, order in _layers(tmp_path)] == [
        ("iam-roles", 1),
        # Same depth: environments in promotion order, not alphabetical.
        ("vpc-eu-west-1", 2),
        ("vpc-us-east-1-staging", 3),
        ("vpc-us-east-1-prod", 4),
    ]


def test_a_dependency_cycle_is_named_and_left_for_the_user_to_fix(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a/terragrunt.hcl": 'dependency "b" {\n  config_path = "../b"\n}\n',
            "b/terragrunt.hcl": 'dependency "a" {\n  config_path = "../a"\n}\n',
        },
    )
    console, out = _console()

    init_repo(tmp_path, force=False, console=console)
    assert "a and b depend on each other (a cycle)" in out.getvalue()
    assert "CHECK: a and b depend on each other" in (tmp_path / "infra.yaml").read_text()


def test_nothing_is_overwritten_without_force(tmp_path: Path) -> None:
    _write(tmp_path, {"net/main.tf": "", ".github/workflows/ci.yml": "name: mine\n"})
    console, _ = _console()

    with pytest.raises(InfraError, match=r"not overwriting .*ci\.yml") as caught:
        init_repo(tmp_path, force=False, console=console)

    assert "--force" in caught.value.hint
    assert not (tmp_path / "infra.yaml").exists()  # all or nothing
    assert (tmp_path / ".github/workflows/ci.yml").read_text() == "name: mine\n"

    assert init_repo(tmp_path, force=True, console=console) == 0
    assert "infra event" in (tmp_path / ".github/workflows/ci.yml").read_text()


def test_no_root_module_is_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path, {"README.md": "hello\n", "modules/x/main.tf": ""})
    console, _ = _console()

    with pytest.raises(InfraError, match="no Terraform or Terragrunt root module"):
        init_repo(tmp_path, force=False, console=console)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_config_in_a_subdirectory_puts_workflows_at_the_repository_root(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    # The default branch as the clone knows it from its remote.
    _git(tmp_path, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    _write(tmp_path, {"infra/net/main.tf": "", "mkdocs.yml": "site_name: Ours\n"})
    console, _ = _console()

    init_repo(tmp_path / "infra", force=False, console=console)

    assert (tmp_path / "infra" / "infra.yaml").is_file()
    ci = yaml.safe_load((tmp_path / ".github/workflows/ci.yml").read_text())
    assert ci[True]["push"]["branches"] == ["trunk"]  # PyYAML reads the key `on` as True
    (step,) = [s for s in ci["jobs"]["infra"]["steps"] if "infra-pipeline@" in s.get("uses", "")]
    assert step["with"]["config"] == "infra/infra.yaml"
    # The team's own docs site is left alone.
    assert (tmp_path / "mkdocs.yml").read_text() == "site_name: Ours\n"
    assert not (tmp_path / "docs").exists()


def test_matrix_writes_the_scale_out_workflow(tmp_path: Path) -> None:
    _write(tmp_path, {"net/main.tf": ""})
    console, _ = _console()

    init_repo(tmp_path, force=False, console=console, matrix=True, default_branch="develop")

    ci = yaml.safe_load((tmp_path / ".github/workflows/ci.yml").read_text())
    assert set(ci["jobs"]) == {"event", "layers", "plan", "dashboard"}
    assert ci[True]["push"]["branches"] == ["develop"]
    assert Engine.TERRAFORM.value in (tmp_path / "infra.yaml").read_text()


def test_workflows_only_upgrades_the_workflows_and_keeps_the_config(tmp_path: Path) -> None:
    _write(tmp_path, {"net/main.tf": ""})
    console, _ = _console()
    init_repo(tmp_path, force=False, console=console)
    config = (tmp_path / "infra.yaml").read_text().replace("order: 1", "order: 7")
    (tmp_path / "infra.yaml").write_text(config)
    (tmp_path / ".github/workflows/ci.yml").write_text("name: old\n")

    with pytest.raises(InfraError, match="not overwriting"):
        init_repo(tmp_path, force=False, console=console, workflows_only=True)
    init_repo(tmp_path, force=True, console=console, workflows_only=True)

    assert "infra event" in (tmp_path / ".github/workflows/ci.yml").read_text()
    assert (tmp_path / "infra.yaml").read_text() == config


def test_workflows_only_needs_a_config(tmp_path: Path) -> None:
    console, _ = _console()

    with pytest.raises(InfraError, match="cannot read"):
        init_repo(tmp_path, force=True, console=console, workflows_only=True)


def test_a_file_that_does_not_parse_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    _write(tmp_path, {"net/main.tf": "resource {\n", "app/main.tf": ""})
    console, out = _console()

    init_repo(tmp_path, force=False, console=console)

    assert [name for name, *_ in _layers(tmp_path)] == ["app", "net"]
    assert "warning: net/main.tf: not read" in out.getvalue()


def test_names_and_paths_yaml_would_misread_are_quoted(tmp_path: Path) -> None:
    _write(tmp_path, {"on/main.tf": "", "2024/main.tf": ""})
    console, _ = _console()

    init_repo(tmp_path, force=False, console=console)

    assert sorted(name for name, *_ in _layers(tmp_path)) == ["2024", "on"]
