"""`infra init` on layouts taken from public repositories (tests/data/*) and their classes:
what it proposes, what it skips and why, and what it writes."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from infra_pipeline.commands.init import init_repo
from infra_pipeline.config import load_config
from infra_pipeline.errors import InfraError
from infra_pipeline.onboarding.discovery import discover

DATA = Path(__file__).parent / "data"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def init(repo: Path, **options: bool) -> str:
    out = io.StringIO()
    init_repo(repo, force=False, console=Console(file=out, width=300), **options)
    return out.getvalue()


def test_a_terragrunt_live_repo_gets_one_layer_per_unit(tmp_path: Path):
    repo = tmp_path / "live"
    shutil.copytree(DATA / "terragrunt-infrastructure-live-example", repo)
    found = discover(repo)
    assert sorted(layer.path for layer in found.layers) == sorted(
        p.parent.relative_to(repo).as_posix() for p in repo.rglob("terragrunt.hcl")
    )
    assert {layer.engine.value for layer in found.layers} == {"terragrunt"}
    assert found.skipped == () and found.cycles == ()


def test_a_unit_with_a_unit_below_it_is_kept_and_an_included_parent_is_skipped(tmp_path: Path):
    unit = 'include "root" {\n  path = find_in_parent_folders("root.hcl")\n}\n'
    # The older layout: a parent terragrunt.hcl that units include with no argument.
    legacy = "include {\n  path = find_in_parent_folders()\n}\n"
    write(
        tmp_path,
        {
            "root.hcl": 'remote_state {\n  backend = "s3"\n}\n',
            "app/terragrunt.hcl": unit + 'terraform {\n  source = "../modules/app"\n}\n',
            "app/worker/terragrunt.hcl": unit,
            "modules/app/main.tf": "",
            "legacy/terragrunt.hcl": 'remote_state {\n  backend = "s3"\n}\n',
            "legacy/a/terragrunt.hcl": legacy,
            "legacy/b/terragrunt.hcl": legacy,
        },
    )
    found = discover(tmp_path)
    assert [layer.path for layer in found.layers] == ["app", "app/worker", "legacy/a", "legacy/b"]
    assert [(s.path, s.why) for s in found.skipped] == [
        ("legacy", "shared Terragrunt configuration that 2 units include")
    ]


def test_terragrunt_stacks_are_named_with_their_units_and_what_to_do(tmp_path: Path):
    repo = tmp_path / "stacks"
    shutil.copytree(DATA / "terragrunt-infrastructure-live-stacks-example", repo)
    with pytest.raises(InfraError, match="a Terragrunt stack of 3 units") as caught:
        discover(repo)
    assert "terragrunt stack generate" in caught.value.message
    write(repo, {"prod/us-east-1/dns/terragrunt.hcl": "inputs = {}\n"})
    found = discover(repo)
    assert [layer.path for layer in found.layers] == ["prod/us-east-1/dns"]
    stacks = {s.path: s.why for s in found.skipped}
    assert "lambda_service, db, role" in stacks["prod/us-east-1/stateful-lambda-service"]


def test_folders_whose_tf_files_are_symlinks_into_a_layer_are_skipped(tmp_path: Path):
    write(tmp_path, {"envs/prod/main.tf": "", "envs/prod/variables.tf": "", "shared/x.tf": ""})
    mirror = tmp_path / "envs/prod-eu"
    mirror.mkdir()
    for name in ("main.tf", "variables.tf"):
        (mirror / name).symlink_to(Path("../prod") / name)
    (mirror / "terraform.tfvars").write_text('region = "eu"\n')
    partial = tmp_path / "envs/dev"
    partial.mkdir()
    (partial / "main.tf").write_text("")  # its own configuration: a layer
    (partial / "providers.tf").symlink_to(Path("../../shared/x.tf"))
    found = discover(tmp_path)
    assert sorted(layer.path for layer in found.layers) == ["envs/dev", "envs/prod", "shared"]
    assert [(s.path, s.why) for s in found.skipped] == [
        ("envs/prod-eu", "its .tf files are symlinks to envs/prod, a layer already")
    ]


def test_dependency_cycles_are_named_and_a_config_is_still_written(tmp_path: Path):
    def unit(*deps: str) -> str:
        paths = ", ".join(f'"../{d}"' for d in deps)
        return f"dependencies {{\n  paths = [{paths}]\n}}\n" if deps else "inputs = {}\n"

    write(
        tmp_path,
        {
            "vpc/terragrunt.hcl": unit(),
            "dns/terragrunt.hcl": unit("vpc", "mail"),
            "mail/terragrunt.hcl": unit("dns"),
            "app/terragrunt.hcl": unit("dns", "db"),
            "db/terragrunt.hcl": unit("vpc"),
            "cache/terragrunt.hcl": unit("queue"),
            "queue/terragrunt.hcl": unit("cache"),
        },
    )
    out = init(tmp_path, only_config=True)
    config = load_config(tmp_path / "infra.yaml")
    order = [layer.name for layer in config.ordered_layers]
    assert len(order) == 7
    assert order.index("vpc") < order.index("db") < order.index("app")
    assert order.index("dns") < order.index("app") and order.index("mail") < order.index("app")
    assert "dns and mail depend on each other" in out
    assert "cache and queue depend on each other" in out
    assert "app" not in out.split("depend on each other")[0].splitlines()[-1]
    assert "CHECK: cache and queue depend on each other" in (tmp_path / "infra.yaml").read_text()


@pytest.mark.parametrize(
    "files",
    [
        {".opentofu-version": "1.9.0\n"},
        {".tool-versions": "opentofu 1.9.0\nterragrunt 0.77.0\n"},
        {
            ".github/workflows/tf.yml": "jobs:\n  p:\n    steps:\n"
            "      - uses: opentofu/setup-opentofu@v1\n"
        },
        {"app/.terraform.lock.hcl": 'provider "registry.opentofu.org/hashicorp/aws" {}\n'},
        {
            "app/state.tf": "terraform {\n  encryption {\n    state {\n"
            "      enforced = true\n    }\n  }\n}\n"
        },
        {"app/main.tofu": ""},
    ],
    ids=[
        "opentofu-version",
        "tool-versions",
        "setup-opentofu",
        "lock-file",
        "encryption",
        "tofu-file",
    ],
)
def test_an_opentofu_repository_gets_engine_tofu(tmp_path: Path, files: dict[str, str]):
    write(tmp_path, {"app/main.tf": 'resource "terraform_data" "x" {}\n', **files})
    assert [layer.engine.value for layer in discover(tmp_path).layers] == ["tofu"]


def test_a_terraform_repository_with_an_encryption_attribute_stays_terraform(tmp_path: Path):
    write(
        tmp_path,
        {
            "app/main.tf": 'resource "azurerm_container_registry" "r" {\n'
            "  encryption {\n    enabled = true\n  }\n}\n"
        },
    )
    assert [layer.engine.value for layer in discover(tmp_path).layers] == ["terraform"]


def test_an_existing_docs_workflow_is_kept_and_only_config_writes_infra_yaml(tmp_path: Path):
    write(tmp_path, {"app/main.tf": "", ".github/workflows/docs.yml": "name: our docs\n"})
    out = init(tmp_path)
    assert (tmp_path / ".github/workflows/ci.yml").is_file()
    assert (tmp_path / ".github/workflows/docs.yml").read_text() == "name: our docs\n"
    assert "Kept your .github/workflows/docs.yml" in out
    other = tmp_path / "other"
    write(other, {"app/main.tf": ""})
    out = init(other, only_config=True)
    assert sorted(p.relative_to(other).as_posix() for p in other.rglob("*") if p.is_file()) == [
        "app/main.tf",
        "infra.yaml",
    ]
    assert "Only infra.yaml was written" in out


def test_a_file_read_through_path_module_is_watched_itself(tmp_path: Path):
    reader = 'locals {\n  c = yamldecode(file("${path.module}/../config.yaml"))\n}\n'
    write(
        tmp_path, {"envs/dev/main.tf": reader, "envs/prod/main.tf": reader, "envs/config.yaml": ""}
    )
    watches = {layer.path: layer.watch for layer in discover(tmp_path).layers}
    assert watches == {"envs/dev": ("envs/config.yaml",), "envs/prod": ("envs/config.yaml",)}


def test_a_module_repository_proposes_its_examples_not_the_module(tmp_path: Path):
    repo = tmp_path / "vpc"
    shutil.copytree(DATA / "terraform-aws-vpc", repo)
    paths = {layer.path for layer in discover(repo).layers}
    assert "." not in paths
    assert {"examples/complete", "examples/simple"} <= paths


def test_a_unit_whose_source_is_its_own_directory_is_a_layer(tmp_path: Path):
    write(
        tmp_path,
        {
            "app/terragrunt.hcl": 'terraform {\n  source = "."\n}\n',
            "app/main.tf": 'resource "terraform_data" "x" {}\n',
        },
    )
    assert [layer.path for layer in discover(tmp_path).layers] == ["app"]


def test_terramate_stacks_keep_their_after_lists_and_nesting(tmp_path: Path):
    # terramate-io/terramate-quickstart-aws: `eks` runs `after = ["tag:vpc"]`, `apps` is
    # nested in `eks` and `app1` in `apps`; Terramate runs a parent stack before its children.
    repo = tmp_path / "tm"
    shutil.copytree(DATA / "terramate-quickstart-aws", repo)
    layers = {layer.path: layer for layer in discover(repo).layers}
    prd = "stacks/terraform/envs/prd"
    names = {path: layer.name for path, layer in layers.items()}
    assert layers[f"{prd}/eks"].depends_on == (names[f"{prd}/vpc"],)
    assert layers[f"{prd}/eks/apps"].depends_on == (names[f"{prd}/eks"],)
    assert layers[f"{prd}/eks/apps/app1"].depends_on == (names[f"{prd}/eks/apps"],)
    order = [layer.path for layer in sorted(layers.values(), key=lambda layer: layer.order)]
    assert order.index(f"{prd}/vpc") < order.index(f"{prd}/eks") < order.index(f"{prd}/eks/apps")


def test_terramate_before_and_a_stack_path_order_stacks_too(tmp_path: Path):
    write(
        tmp_path,
        {
            "net/main.tf": "",
            "net/stack.tm.hcl": 'stack {\n  before = ["/db"]\n}\n',
            "db/main.tf": "",
            "db/stack.tm.hcl": "stack {\n}\n",
            "app/main.tf": "",
            "app/stack.tm.hcl": 'stack {\n  after = ["../db"]\n}\n',
        },
    )
    waits = {layer.name: layer.depends_on for layer in discover(tmp_path).layers}
    assert waits == {"net": (), "db": ("net",), "app": ("db",)}


def test_a_repository_installing_terraform_and_opentofu_decides_per_stack(tmp_path: Path):
    # The quickstart's .tool-versions lists both; only the stacks whose Terramate scripts
    # run `tofu` are OpenTofu.
    repo = tmp_path / "tm"
    shutil.copytree(DATA / "terramate-quickstart-aws", repo)
    engines = {layer.path: layer.engine.value for layer in discover(repo).layers}
    assert engines.pop("stacks/opentofu/empty") == "tofu"
    assert set(engines.values()) == {"terraform"}


def test_both_setup_actions_in_workflows_leave_the_engine_to_each_module(tmp_path: Path):
    workflow = (
        "steps:\n  - uses: hashicorp/setup-terraform@v3\n  - uses: opentofu/setup-opentofu@v1\n"
    )
    write(tmp_path, {"app/main.tf": "", ".github/workflows/ci.yml": workflow})
    assert [layer.engine.value for layer in discover(tmp_path).layers] == ["terraform"]


def test_a_module_a_unit_names_through_a_terragrunt_function_is_not_a_layer(tmp_path: Path):
    # transcend-io/terragrunt-atlantis-config, test_examples/local_terraform_abs_module_source:
    # `source = "${get_parent_terragrunt_dir()}/root-module"`, the parent being the root.
    repo = tmp_path / "abs"
    shutil.copytree(DATA / "terragrunt-atlantis-config/local_terraform_abs_module_source", repo)
    assert [layer.path for layer in discover(repo).layers] == ["terragrunt-module"]


def test_a_parent_included_through_a_folder_found_above_is_not_a_layer(tmp_path: Path):
    # test_examples/parent_with_extra_deps: `path = "${find_in_parent_folders("parent")}/…"`.
    repo = tmp_path / "extra"
    shutil.copytree(DATA / "terragrunt-atlantis-config/parent_with_extra_deps", repo)
    found = discover(repo)
    assert [layer.path for layer in found.layers] == ["deep/child"]
    assert [item.path for item in found.skipped] == ["parent"]
