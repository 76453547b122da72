"""A pull request changes some files; which layers does the pipeline plan?"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra_pipeline.core.changes import ChangeReport, LayerSpec, analyse_changes, touched_layers
from infra_pipeline.errors import InfraError


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def module_call(source: str, name: str = "m") -> str:
    return f'module "{name}" {{\n  source = "{source}"\n}}\n'


BOOTSTRAP = LayerSpec("bootstrap", "bootstrap", 1)
PLATFORM = LayerSpec("platform", "platform", 2)
STAGING = LayerSpec("data-staging", "envs/staging/data", 3)
PROD = LayerSpec("data-prod", "envs/prod/data", 4)
LAYERS = [BOOTSTRAP, PLATFORM, STAGING, PROD]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(
        tmp_path,
        {
            "bootstrap/main.tf": 'resource "null_resource" "x" {}\n',
            "platform/main.tf": module_call("../modules/cluster"),
            "envs/staging/data/main.tf": module_call("../../../modules/database"),
            "envs/prod/data/main.tf": module_call("../../../modules/database"),
            "modules/cluster/main.tf": 'variable "size" {}\n',
            "modules/database/main.tf": module_call("../network", "net"),
            "modules/network/main.tf": 'output "id" { value = 1 }\n',
            "modules/unused/main.tf": "",
        },
    )
    return tmp_path


def test_a_file_in_a_layer_directory_touches_that_layer(repo: Path):
    assert touched_layers(["bootstrap/main.tf"], LAYERS, repo) == ["bootstrap"]


def test_results_follow_layer_order_not_file_order(repo: Path):
    files = ["envs/prod/data/x.tf", "bootstrap/main.tf", "platform/vars.tf"]
    assert touched_layers(files, LAYERS, repo) == ["bootstrap", "platform", "data-prod"]


def test_layer_order_decides_even_when_the_config_lists_layers_differently(repo: Path):
    files = ["bootstrap/main.tf", "platform/main.tf"]
    assert touched_layers(files, [PLATFORM, BOOTSTRAP], repo) == ["bootstrap", "platform"]


def test_files_outside_every_layer_touch_none(repo: Path):
    files = ["README.md", "docs/index.md", "modules/unused/main.tf", ".github/workflows/ci.yml"]
    assert touched_layers(files, LAYERS, repo) == []


def test_a_shared_local_module_touches_every_layer_that_calls_it(repo: Path):
    assert touched_layers(["modules/database/main.tf"], LAYERS, repo) == [
        "data-staging",
        "data-prod",
    ]


def test_a_module_called_by_a_module_touches_the_layers_at_the_top(repo: Path):
    assert touched_layers(["modules/network/main.tf"], LAYERS, repo) == [
        "data-staging",
        "data-prod",
    ]


def test_any_file_below_a_module_counts(repo: Path):
    assert touched_layers(["modules/cluster/templates/user-data.sh"], LAYERS, repo) == ["platform"]


def test_module_cycles_do_not_hang(tmp_path: Path):
    write(
        tmp_path,
        {
            "live/main.tf": module_call("../modules/a"),
            "modules/a/main.tf": module_call("../b"),
            "modules/b/main.tf": module_call("../a"),
        },
    )
    layer = LayerSpec("live", "live", 1)
    assert touched_layers(["modules/b/x.tf"], [layer], tmp_path) == ["live"]


def test_a_watch_glob_touches_its_layer(repo: Path):
    watching = LayerSpec("bootstrap", "bootstrap", 1, watch=("scripts/**", "**/*.sh", "ver?.txt"))
    layers = [watching, PLATFORM]
    assert touched_layers(["scripts/a/b/deploy.py"], layers, repo) == ["bootstrap"]
    assert touched_layers(["tools/x/run.sh"], layers, repo) == ["bootstrap"]
    assert touched_layers(["ver1.txt"], layers, repo) == ["bootstrap"]
    assert touched_layers(["scripts.txt", "tools/run.shx", "ver12.txt"], layers, repo) == []


def test_a_single_star_stays_within_one_directory(repo: Path):
    layer = LayerSpec("bootstrap", "bootstrap", 1, watch=("policies/*.rego",))
    assert touched_layers(["policies/a.rego"], [layer], repo) == ["bootstrap"]
    assert touched_layers(["policies/sub/a.rego"], [layer], repo) == []


def test_an_invalid_watch_glob_is_a_config_error(repo: Path):
    layer = LayerSpec("bootstrap", "bootstrap", 1, watch=("x/[z-a]",))
    with pytest.raises(InfraError, match="watch glob"):
        touched_layers(["x/y"], [layer], repo)


def test_terragrunt_sources_count_including_double_slash_subdirs(tmp_path: Path):
    write(
        tmp_path,
        {
            "platform/terragrunt.hcl": 'terraform {\n  source = "../modules//k8s"\n}\n',
            "live/dns/terragrunt.hcl": (
                'terraform {\n  source = "${get_terragrunt_dir()}/../../modules/dns"\n}\n'
            ),
            "modules/k8s/main.tf": "",
            "modules/dns/main.tf": "",
        },
    )
    layers = [LayerSpec("platform", "platform", 1), LayerSpec("live", "live", 2)]
    assert touched_layers(["modules/k8s/main.tf"], layers, tmp_path) == ["platform"]
    # A Terragrunt layer keeps its units in subdirectories; they count as the layer.
    assert touched_layers(["modules/dns/main.tf"], layers, tmp_path) == ["live"]


def test_remote_modules_are_ignored(tmp_path: Path):
    write(
        tmp_path,
        {
            "live/main.tf": "".join(
                module_call(source, f"m{i}")
                for i, source in enumerate(
                    [
                        "terraform-aws-modules/vpc/aws",
                        "git::https://example.com/modules.git//vpc?ref=v1",
                        "https://example.com/vpc.zip",
                        "github.com/acme/modules//vpc",
                    ]
                )
            ),
            "vpc/main.tf": "",
        },
    )
    layer = LayerSpec("live", "live", 1)
    assert touched_layers(["vpc/main.tf", "modules/vpc/main.tf"], [layer], tmp_path) == []


def test_commented_out_calls_and_other_source_attributes_are_not_module_calls(tmp_path: Path):
    write(
        tmp_path,
        {
            "live/main.tf": """\
                # module "old" {
                #   source = "../modules/old"
                # }
                resource "aws_s3_object" "o" {
                  bucket = "b"
                  source = "../files/blob.zip"
                }
            """,
        },
    )
    layer = LayerSpec("live", "live", 1)
    assert touched_layers(["modules/old/main.tf", "files/blob.zip"], [layer], tmp_path) == []


def test_broken_hcl_falls_back_to_a_text_scan_with_a_warning(tmp_path: Path):
    write(
        tmp_path,
        {
            "live/main.tf": 'module "m" {\n  source = "../modules/m"\n  oops = \n',
            "other/main.tf": "{{{{ not hcl at all \x00",
        },
    )
    layers = [LayerSpec("live", "live", 1), LayerSpec("other", "other", 2)]
    report = analyse_changes(["modules/m/main.tf"], layers, tmp_path)
    assert report.layers == ("live",)
    assert len(report.warnings) == 1
    assert "live/main.tf" in report.warnings[0]


def test_missing_layer_and_module_directories_are_fine(tmp_path: Path):
    write(tmp_path, {"live/main.tf": module_call("../modules/gone")})
    layers = [LayerSpec("live", "live", 1), LayerSpec("new", "new", 2)]
    assert touched_layers(["new/main.tf", "modules/gone/x.tf"], layers, tmp_path) == [
        "live",
        "new",
    ]


def test_odd_changed_paths_are_normalised_or_dropped(repo: Path):
    files = ["./platform/main.tf", "", "../outside.tf", "/etc/passwd", "bootstrap\\main.tf"]
    assert touched_layers(files, LAYERS, repo) == ["bootstrap", "platform"]


def test_a_layer_at_the_repo_root_is_touched_by_its_configuration_only(repo: Path):
    root = [LayerSpec("root", ".", 1)]
    assert touched_layers(["README.md", "docs/faq.md"], root, repo) == []
    assert touched_layers(["main.tf"], root, repo) == ["root"]


def test_unusual_but_valid_layouts_are_read_exactly(tmp_path: Path):
    write(
        tmp_path,
        {
            "live/main.tf": """\
                module "one" { source = "../modules/one" }
                  module "indented" {
                    source = "../modules/indented"
                  }
                module "heredoc" {
                  note = <<EOT
                looks_like_a_block {
                EOT
                  source = "../modules/heredoc"
                }
                locals {
                  doc = <<EOT
                module "fake" {
                  source = "../modules/fake"
                EOT
                }
            """,
        },
    )
    layer = LayerSpec("live", "live", 1)
    for name in ("one", "indented", "heredoc"):
        assert touched_layers([f"modules/{name}/main.tf"], [layer], tmp_path) == ["live"]
    report = analyse_changes(["modules/fake/main.tf"], [layer], tmp_path)
    assert report == ChangeReport(layers=(), warnings=())
