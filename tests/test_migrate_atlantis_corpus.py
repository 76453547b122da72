"""Every repo config Atlantis's own parser tests accept migrates; every unsafe one is refused.

The cases are the inputs of Atlantis's tables (tests/data/atlantis-repo-config), run through
`infra migrate atlantis` in a throwaway repository that has the directories they name.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from infra_pipeline.commands.migrate import migrate_atlantis
from infra_pipeline.config import Config, load_config
from infra_pipeline.errors import ExitCode, InfraError

CASES = yaml.safe_load(
    (Path(__file__).parent / "data/atlantis-repo-config/parser_validator_cases.yaml").read_text()
)
GLOB_TREE = ("modules/module-a", "modules/module-b", "environments/dev", "environments/prod")


def repository(tmp_path: Path, atlantis_yaml: str, dirs: tuple[str, ...] = ()) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    try:
        data = yaml.load(atlantis_yaml, Loader=yaml.BaseLoader)
    except yaml.YAMLError:
        data = None
    projects = data.get("projects") if isinstance(data, dict) else None
    named = [p.get("dir") for p in projects or [] if isinstance(p, dict)]
    for directory in [*dirs, *named]:
        if isinstance(directory, str) and ".." not in directory and "*" not in directory:
            target = repo / directory.strip("/")
            if target.resolve().is_relative_to(repo.resolve()):
                target.mkdir(parents=True, exist_ok=True)
                (target / "main.tf").write_text("")
    (repo / "modules/module-c").mkdir(parents=True, exist_ok=True)
    (repo / "modules/module-c/readme.md").write_text("# no Terraform here\n")
    (repo / "atlantis.yaml").write_text(atlantis_yaml)
    return repo


def migrate(repo: Path) -> Config:
    console = Console(file=io.StringIO(), width=200)
    code = migrate_atlantis(repo, output=None, force=False, console=console, workflows=False)
    assert code == ExitCode.OK
    return load_config(repo / "infra.yaml")


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["description"] for case in cases]


ACCEPTED = [c for c in CASES["parse"] if c["atlantis"] == "accepts"]
UNSAFE = [c for c in CASES["parse"] if c["atlantis"] == "refuses" and "'..'" in c["error"]]


@pytest.mark.parametrize("case", ACCEPTED, ids=ids(ACCEPTED))
def test_every_config_atlantis_accepts_migrates_to_a_config_infra_loads(
    tmp_path: Path, case: dict[str, Any]
):
    config = migrate(repository(tmp_path, case["input"]))
    assert config.layers
    for layer in config.layers.values():
        assert config.layer_dir(layer).is_relative_to(config.root)


@pytest.mark.parametrize("case", UNSAFE, ids=ids(UNSAFE))
def test_every_unsafe_config_atlantis_refuses_is_refused(tmp_path: Path, case: dict[str, Any]):
    repo = repository(tmp_path, case["input"])
    with pytest.raises(InfraError, match=r"\.\."):
        migrate(repo)
    assert not (repo / "infra.yaml").exists()


def test_the_corpus_holds_both_kinds():
    assert len(ACCEPTED) >= 20 and UNSAFE


GLOBS = [c for c in CASES["glob"] if c["atlantis"] == "accepts"]


@pytest.mark.parametrize("case", GLOBS, ids=ids(GLOBS))
def test_glob_dirs_expand_to_the_directories_atlantis_expands_them_to(
    tmp_path: Path, case: dict[str, Any]
):
    config = migrate(repository(tmp_path, case["input"], GLOB_TREE))
    paths = sorted(layer.path for layer in config.layers.values())
    assert paths == sorted(case["dirs"])


def test_an_invalid_glob_is_refused(tmp_path: Path):
    (case,) = [c for c in CASES["glob"] if c["atlantis"] == "refuses"]
    with pytest.raises(InfraError, match="not a valid glob"):
        migrate(repository(tmp_path, case["input"], GLOB_TREE))


WORKSPACES = CASES["workspaces"]


@pytest.mark.parametrize("case", WORKSPACES, ids=[repr(c["name"]) for c in WORKSPACES])
def test_a_workspace_reaches_tf_workspace_only_when_atlantis_accepts_it(
    tmp_path: Path, case: dict[str, Any]
):
    text = f"version: 3\nprojects:\n- dir: app\n  workspace: {yaml.safe_dump(case['name'])}"
    text = text.removesuffix("...\n")
    repo = repository(tmp_path, text, ("app",))
    if case["atlantis"] == "refuses":
        with pytest.raises(InfraError, match="workspace"):
            migrate(repo)
        assert not (repo / "infra.yaml").exists()
        return
    layer = next(iter(migrate(repo).layers.values()))
    expected = case["name"] if case["name"] not in ("", "default") else None
    assert layer.env.get("TF_WORKSPACE") == expected


def test_opentofu_projects_get_the_tofu_engine_and_parallel_plan_false_one_job(tmp_path: Path):
    (case,) = [c for c in ACCEPTED if "opentofu" in c["description"]]
    text = case["input"] + "parallel_plan: false\n"
    config = migrate(repository(tmp_path, text))
    assert {layer.engine.value for layer in config.layers.values()} == {"tofu"}
    assert config.jobs == 1


def test_autodiscover_adds_what_it_discovers_and_says_so(tmp_path: Path):
    text = (
        "version: 3\nautodiscover:\n  mode: enabled\n  ignore_paths: [sandbox/**]\n"
        "projects:\n- name: net\n  dir: network\n"
    )
    repo = repository(tmp_path, text, ("network", "apps/web", "apps/api", "sandbox/try"))
    (repo / "main.tf").unlink()
    out = io.StringIO()
    migrate_atlantis(repo, output=None, force=False, console=Console(file=out, width=300))
    paths = sorted(layer.path for layer in load_config(repo / "infra.yaml").layers.values())
    assert paths == ["apps/api", "apps/web", "network"]
    assert "2 root modules found by" in out.getvalue()


def test_without_projects_autodiscovery_finds_the_layers(tmp_path: Path):
    repo = repository(tmp_path, "version: 3\n", ("envs/dev", "envs/prod"))
    (repo / "main.tf").unlink()
    paths = sorted(layer.path for layer in migrate(repo).layers.values())
    assert paths == ["envs/dev", "envs/prod"]


def test_depends_on_and_terragrunt_dependencies_keep_their_order(tmp_path: Path):
    text = (
        "version: 3\nprojects:\n- {name: app, dir: app}\n- {name: db, dir: db}\n"
        "- {name: vpc, dir: vpc}\n- {name: dns, dir: dns, depends_on: [app]}\n"
    )
    repo = repository(tmp_path, text)
    (repo / "vpc/terragrunt.hcl").write_text("inputs = {}\n")
    (repo / "db/terragrunt.hcl").write_text('dependency "vpc" {\n  config_path = "../vpc"\n}\n')
    (repo / "app/terragrunt.hcl").write_text(
        'dependencies {\n  paths = ["../db", "${get_terragrunt_dir()}/../vpc"]\n}\n'
    )
    config = migrate(repo)
    assert [layer.name for layer in config.ordered_layers] == ["vpc", "db", "app", "dns"]


def test_only_atlantis_own_files_are_listed_for_deletion(tmp_path: Path):
    repo = repository(tmp_path, "version: 3\nprojects:\n- dir: app\n", ("app",))
    workflows = repo / ".github/workflows"
    workflows.mkdir(parents=True)
    (workflows / "atlantis.yml").write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: docker run ghcr.io/runatlantis/atlantis:v0.30.0 atlantis version\n"
    )
    (workflows / "lint.yml").write_text(
        "name: lint (replaces the old atlantis checks)\non: pull_request\njobs:\n  l:\n"
        "    runs-on: ubuntu-latest\n    steps:\n      - run: echo 'no atlantis here'\n"
    )
    (repo / "app/variables.tf").write_text(
        'variable "atlantis_image" {\n  default = "ghcr.io/runatlantis/atlantis:v0.30.0"\n}\n'
    )
    (repo / "app/atlantis.tf").write_text(
        'module "atlantis" {\n  source = "terraform-aws-modules/atlantis/aws"\n}\n'
    )
    out = io.StringIO()
    migrate_atlantis(repo, output=None, force=False, console=Console(file=out, width=300))
    report = out.getvalue()
    deletable = report[report.index("What you can delete") :]
    assert ".github/workflows/atlantis.yml" in deletable
    assert "app/atlantis.tf" in deletable
    assert "lint.yml" not in deletable and "variables.tf" not in deletable
