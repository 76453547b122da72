"""Which layers a change touches, on layouts taken from public repositories (tests/data/*)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra_pipeline.core.changes import LayerSpec, analyse_changes, touched_layers
from infra_pipeline.core.hcl_reads import terragrunt_reads
from infra_pipeline.core.unit_reads import UnitReads

DATA = Path(__file__).parent / "data"


def copy(name: str, tmp_path: Path) -> Path:
    shutil.copytree(DATA / name, tmp_path / name)
    return tmp_path / name


def units_of(root: Path) -> list[LayerSpec]:
    dirs = sorted(p.parent.relative_to(root).as_posix() for p in root.rglob("terragrunt.hcl"))
    return [LayerSpec(d.replace("/", "-"), d, i) for i, d in enumerate(dirs, start=1)]


@pytest.fixture
def live(tmp_path: Path) -> Path:
    return copy("terragrunt-infrastructure-live-example", tmp_path)


QA_MYSQL = "non-prod-us-east-1-qa-mysql"
QA_WEB = "non-prod-us-east-1-qa-webserver-cluster"
STAGE_MYSQL = "non-prod-us-east-1-stage-mysql"
STAGE_WEB = "non-prod-us-east-1-stage-webserver-cluster"
PROD_MYSQL = "prod-us-east-1-prod-mysql"
PROD_WEB = "prod-us-east-1-prod-webserver-cluster"


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ("root.hcl", {QA_MYSQL, QA_WEB, STAGE_MYSQL, STAGE_WEB, PROD_MYSQL, PROD_WEB}),
        ("_envcommon/mysql.hcl", {QA_MYSQL, STAGE_MYSQL, PROD_MYSQL}),
        ("_envcommon/webserver-cluster.hcl", {QA_WEB, STAGE_WEB, PROD_WEB}),
        ("non-prod/account.hcl", {QA_MYSQL, QA_WEB, STAGE_MYSQL, STAGE_WEB}),
        ("prod/us-east-1/region.hcl", {PROD_MYSQL, PROD_WEB}),
        ("non-prod/us-east-1/qa/env.hcl", {QA_MYSQL, QA_WEB}),
        ("prod/us-east-1/prod/mysql/terragrunt.hcl", {PROD_MYSQL}),
        ("docs/faq.md", set()),
        ("_envcommon/README.md", set()),
    ],
)
def test_terragrunt_shared_configuration_touches_the_units_that_read_it(
    live: Path, changed: str, expected: set[str]
):
    report = analyse_changes([changed], units_of(live), live)
    assert set(report.layers) == expected
    assert report.warnings == ()


def test_the_hcl_reading_finds_a_units_includes_and_the_files_they_read(live: Path):
    class Disk:
        def text(self, path: str) -> str | None:
            file = live / path
            return file.read_text() if file.is_file() else None

        def kind(self, path: str):  # type: ignore[no-untyped-def]
            file = live / path
            return "file" if file.is_file() else "dir" if file.is_dir() else None

    reads = terragrunt_reads("non-prod/us-east-1/qa/mysql", Disk())
    assert reads == UnitReads.of(
        "non-prod/us-east-1/qa/mysql",
        reads=[
            "root.hcl",
            "_envcommon/mysql.hcl",
            "non-prod/account.hcl",
            "non-prod/us-east-1/region.hcl",
            "non-prod/us-east-1/qa/env.hcl",
        ],
    )


def test_what_the_terragrunt_binary_reports_is_used_instead_of_the_hcl(live: Path):
    layers = units_of(live)
    qa_mysql = "non-prod/us-east-1/qa/mysql"
    reported = {qa_mysql: UnitReads.of(qa_mysql, reads=["policies/mysql.rego"])}
    touched = touched_layers(["policies/mysql.rego", "root.hcl"], layers, live, reported)
    # The report replaces the reading for its unit only: the others still read root.hcl.
    assert QA_MYSQL in touched
    assert set(touched_layers(["root.hcl"], layers, live, reported)) == {
        QA_WEB,
        STAGE_MYSQL,
        STAGE_WEB,
        PROD_MYSQL,
        PROD_WEB,
    }


def test_a_unit_with_another_unit_below_it_owns_only_its_own_files(tmp_path: Path):
    for unit in ("app", "app/worker"):
        (tmp_path / unit).mkdir(parents=True, exist_ok=True)
        (tmp_path / unit / "terragrunt.hcl").write_text("inputs = {}\n")
    layers = [LayerSpec("app", "app", 1), LayerSpec("worker", "app/worker", 2)]
    assert touched_layers(["app/worker/terragrunt.hcl"], layers, tmp_path) == ["worker"]
    assert touched_layers(["app/terragrunt.hcl"], layers, tmp_path) == ["app"]


@pytest.fixture
def vpc(tmp_path: Path) -> Path:
    return copy("terraform-aws-vpc", tmp_path)


def example_layers(root: Path) -> list[LayerSpec]:
    names = sorted(p.name for p in (root / "examples").iterdir() if p.is_dir())
    return [LayerSpec(n, f"examples/{n}", i) for i, n in enumerate(names, start=1)]


def test_a_module_called_as_dot_dot_is_touched_only_by_its_configuration(vpc: Path):
    layers = example_layers(vpc)
    calling_root = {
        p.parent.name
        for p in (vpc / "examples").glob("*/main.tf")
        if '"../../"' in p.read_text() or '"../.."' in p.read_text()
    }
    assert len(calling_root) > 10
    assert set(touched_layers(["main.tf"], layers, vpc)) == calling_root
    assert touched_layers(["README.md", "docs/UPGRADE-4.0.md", "CHANGELOG.md"], layers, vpc) == []
    assert touched_layers(["examples/complete/README.md"], layers, vpc) == ["complete"]
    # A module's documentation plans nothing; its configuration plans its callers.
    assert touched_layers(["modules/flow-log/README.md"], layers, vpc) == []
    flow_log = {
        p.parent.name for p in (vpc / "examples").glob("*/main.tf") if "flow-log" in p.read_text()
    }
    assert set(touched_layers(["modules/flow-log/main.tf"], layers, vpc)) == flow_log


def test_a_layer_at_the_repository_root_owns_only_the_root_configuration(vpc: Path):
    layers = [LayerSpec("vpc", ".", 1), *example_layers(vpc)]
    assert touched_layers(["docs/UPGRADE-4.0.md", "README.md"], layers, vpc) == []
    assert "vpc" in touched_layers(["main.tf"], layers, vpc)
    assert "vpc" in touched_layers(["terraform.tfvars"], layers, vpc)
    assert touched_layers(["examples/ipam/main.tf"], layers, vpc) == ["ipam"]


def test_a_file_read_through_path_module_watches_that_file_not_its_directory(tmp_path: Path):
    reader = 'locals {\n  config = yamldecode(file("${path.module}/../config.yaml"))\n}\n'
    for env in ("dev", "prod"):
        (tmp_path / "envs" / env).mkdir(parents=True)
        (tmp_path / "envs" / env / "main.tf").write_text(reader)
    (tmp_path / "envs" / "config.yaml").write_text("size: 1\n")
    (tmp_path / "envs" / "dev" / "policy.json.tpl").write_text("{}")
    layers = [LayerSpec("dev", "envs/dev", 1), LayerSpec("prod", "envs/prod", 2)]
    assert touched_layers(["envs/config.yaml"], layers, tmp_path) == ["dev", "prod"]
    assert touched_layers(["envs/dev/main.tf"], layers, tmp_path) == ["dev"]
    assert touched_layers(["envs/README.md"], layers, tmp_path) == []


def test_a_read_named_at_run_time_is_watched_as_a_glob(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.tf").write_text(
        'locals {\n  c = file("${path.module}/../settings/${var.env}.json")\n}\n'
    )
    layers = [LayerSpec("app", "app", 1)]
    assert touched_layers(["settings/prod.json"], layers, tmp_path) == ["app"]
    assert touched_layers(["settings/prod.yaml", "settings/x/prod.json"], layers, tmp_path) == []


def test_commented_out_includes_and_remote_sources_are_not_reads(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "old.hcl").write_text("")
    (tmp_path / "root.hcl").write_text("")
    (tmp_path / "app" / "terragrunt.hcl").write_text(
        '# include { path = find_in_parent_folders("old.hcl") }\n'
        '/* read_terragrunt_config("../old.hcl") */\n'
        'include "root" {\n  path = "${get_repo_root()}/root.hcl" // the shared one\n}\n'
        'terraform {\n  source = "git::https://example.com/mods.git//vpc?ref=v1.0.0"\n}\n'
    )
    layers = [LayerSpec("app", "app", 1)]
    assert touched_layers(["root.hcl"], layers, tmp_path) == ["app"]
    assert touched_layers(["old.hcl"], layers, tmp_path) == []


def test_a_parent_found_as_a_folder_above_the_unit_touches_it(tmp_path: Path):
    # transcend-io/terragrunt-atlantis-config, test_examples/parent_with_extra_deps.
    repo = copy("terragrunt-atlantis-config/parent_with_extra_deps", tmp_path)
    child = [LayerSpec("child", "deep/child", 1)]
    assert touched_layers(["parent/terragrunt.hcl"], child, repo) == ["child"]
    assert touched_layers(["parent/README.md"], child, repo) == []


def test_var_files_passed_by_extra_arguments_touch_the_unit(tmp_path: Path):
    # test_examples/extra_arguments: `required_var_files` and `optional_var_files` (their
    # names computed with get_env, so watched as `*.tfvars`), beside the parent.
    repo = copy("terragrunt-atlantis-config/extra_arguments", tmp_path)
    (repo / "terraform.tfvars").write_text("")
    (repo / "child" / "dev.tfvars").write_text("")
    specs = [
        LayerSpec("child", "child", 1),
        LayerSpec("required", "only_required_files", 2),
    ]
    assert touched_layers(["terraform.tfvars"], specs, repo) == ["child", "required"]
    assert touched_layers(["prod.tfvars"], specs, repo) == ["child"]
    assert touched_layers(["child/dev.tfvars"], specs, repo) == ["child"]
    assert touched_layers(["notes.txt"], specs, repo) == []


def test_a_source_named_through_the_parents_directory_is_the_units_module(tmp_path: Path):
    # test_examples/local_terraform_abs_module_source: the unit's module and the module it
    # calls in turn are the unit's; the root `terragrunt.hcl` is its parent.
    repo = copy("terragrunt-atlantis-config/local_terraform_abs_module_source", tmp_path)
    unit = [LayerSpec("unit", "terragrunt-module", 1)]
    for changed in ("root-module/main.tf", "terraform-module/main.tf", "terragrunt.hcl"):
        assert touched_layers([changed], unit, repo) == ["unit"], changed


GCP = "live/non-production/development/platform/dp-dev-01"


def test_paths_computed_in_locals_are_evaluated(tmp_path: Path):
    # spolspol/terragrunt-gcp-org-automation: `read_terragrunt_config("${local.repo_root}/…")`
    # in an included file, and dependencies named by `local.x` (nested `dirname`s) and by
    # `find_in_parent_folders("project")`, a folder.
    repo = copy("terragrunt-gcp-org-automation", tmp_path)
    vm = f"{GCP}/europe-west2/compute/sql-server-01/vm"
    api = f"{GCP}/europe-west2/cloud-run/api-service"

    class Disk:
        def text(self, path: str) -> str | None:
            file = repo / path
            return file.read_text() if file.is_file() else None

        def kind(self, path: str):  # type: ignore[no-untyped-def]
            file = repo / path
            return "file" if file.is_file() else "dir" if file.is_dir() else None

    assert terragrunt_reads(vm, Disk()).depends_on == {f"{GCP}/project", f"{GCP}/vpc-network"}
    assert terragrunt_reads(api, Disk()).reads == {
        "root.hcl",
        "_common/base.hcl",
        "_common/common.hcl",
        "live/non-production/account.hcl",
    }
    specs = units_of(repo)
    touched = touched_layers(["_common/common.hcl"], specs, repo)
    assert touched == [api.replace("/", "-")]


def test_a_module_named_by_path_relative_to_include_touches_only_its_units(tmp_path: Path):
    # iskprinter/infrastructure: each unit generates
    # `source = "../../../modules/${basename(path_relative_to_include("env"))}"`.
    repo = copy("iskprinter-infrastructure", tmp_path)
    specs = units_of(repo)
    both = ["config-dev-mongodb-operator", "config-prod-mongodb-operator"]
    assert touched_layers(["modules/backups/variables.tf"], specs, repo) == ["config-prod-backups"]
    assert sorted(touched_layers(["modules/mongodb-operator/versions.tf"], specs, repo)) == both
    assert len(touched_layers(["config/global.hcl"], specs, repo)) == 3
    assert touched_layers(["config/dev/env.hcl"], specs, repo) == ["config-dev-mongodb-operator"]


def test_what_terraform_reads_is_kept_beside_terragrunts_report(tmp_path: Path):
    # `terragrunt find --reading` reports the configuration Terragrunt parses, not a module
    # a `generate` block calls (iskprinter/infrastructure) nor a file() read: a report
    # without them must not hide those changes.
    repo = copy("iskprinter-infrastructure", tmp_path)
    specs = units_of(repo)
    backups = "config/prod/backups"
    reported = {spec.path: UnitReads.of(spec.path, reads=["config/global.hcl"]) for spec in specs}
    touched = touched_layers(["modules/backups/variables.tf"], specs, repo, reported)
    assert touched == [backups.replace("/", "-")]
    # The report is what counts for Terragrunt's own files: env.hcl is not in it.
    assert touched_layers(["config/prod/env.hcl"], specs, repo, reported) == []
