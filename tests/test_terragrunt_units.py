"""What the real `terragrunt` reports about each unit (`terragrunt find --json --include
--reading --dependencies`) against the HCL reading that stands in for it when the binary is
absent: the same records on the example and on a public live repository's layout, and the
computed paths only Terragrunt resolves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from homelab import EXAMPLE, base_env, infra
from infra_pipeline.adapters.repo_files import DiskFiles
from infra_pipeline.adapters.terragrunt_units import read_find_output, terragrunt_units
from infra_pipeline.config import load_config
from infra_pipeline.core.changes import LayerSpec, analyse_changes
from infra_pipeline.core.hcl_reads import terragrunt_reads
from infra_pipeline.core.unit_reads import UnitIndex, UnitReads
from infra_pipeline.flows.validate import dependency_order

DATA = Path(__file__).parent / "data"
LIVE = DATA / "terragrunt-infrastructure-live-example"


def reported(root: Path) -> UnitIndex:
    units = terragrunt_units(root, base_env())
    assert units is not None, "terragrunt is not on PATH: run `make tools`"
    return units


def outside_the_unit(unit: UnitReads) -> tuple[set[str], set[str]]:
    """What a unit reads outside its own directory (a change inside it touches the unit
    anyway; Terragrunt also lists the unit's own files), and the units it depends on."""
    prefix = unit.dir + "/"
    return {r for r in unit.reads if not r.startswith(prefix)}, set(unit.depends_on)


def copied(source: Path, tmp_path: Path) -> Path:
    root = tmp_path / source.name
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return root


def test_terragrunt_reports_the_example_units_includes_reads_and_dependencies(
    tmp_path: Path,
) -> None:
    units = reported(copied(EXAMPLE, tmp_path))
    assert set(units) == {"platform", "envs/staging/data", "envs/prod/data"}
    # The code in the modules tree each unit's `source` names, and the file platform reads
    # through mark_as_read.
    assert outside_the_unit(units["platform"]) == (
        {"root.hcl", "modules/platform/main.tf", "live/cluster.json"},
        set(),
    )
    assert outside_the_unit(units["envs/staging/data"]) == (
        {"root.hcl", "envs/staging/env.hcl", "modules/data-staging/main.tf"},
        {"platform"},
    )
    assert outside_the_unit(units["envs/prod/data"]) == (
        {"root.hcl", "envs/prod/env.hcl", "modules/data-prod/main.tf"},
        {"platform"},
    )


@pytest.mark.parametrize("layout", [EXAMPLE, LIVE], ids=["example", "infrastructure-live"])
def test_terragrunt_and_the_hcl_reading_agree(layout: Path, tmp_path: Path) -> None:
    root = copied(layout, tmp_path)
    units = reported(root)
    assert units, "terragrunt found no units"
    for directory, unit in units.items():
        from_hcl = terragrunt_reads(directory, DiskFiles(root))
        assert as_files(root, outside_the_unit(unit)) == as_files(
            root, outside_the_unit(from_hcl)
        ), directory


def as_files(root: Path, found: tuple[set[str], set[str]]) -> tuple[set[str], set[str]]:
    """Reads with each directory as the configuration files in it: Terragrunt lists a local
    `source` module's `.tf` files, the HCL reading its directory (everything below it counts)."""
    reads, depends = found
    files = set()
    for read in reads:
        if (root / read).is_dir():
            files |= {p.relative_to(root).as_posix() for p in (root / read).rglob("*.tf")}
        else:
            files.add(read)
    return files, depends


COMPUTED = {
    "root.hcl": (
        'locals {\n  account = read_terragrunt_config(find_in_parent_folders("account.hcl"))\n}\n'
    ),
    "live/account.hcl": 'locals {\n  id = "123"\n}\n',
    "live/prod/env.hcl": ('locals {\n  shared_file = "tags.hcl"\n  db_unit     = "db"\n}\n'),
    "common/tags.hcl": "locals {\n  tags = {}\n}\n",
    "common/other.hcl": "locals {\n  unrelated = true\n}\n",
    "live/prod/db/terragrunt.hcl": "locals {}\n",
    "live/prod/app/terragrunt.hcl": """\
include "root" {
  path = find_in_parent_folders("root.hcl")
}

locals {
  env  = read_terragrunt_config(find_in_parent_folders("env.hcl"))
  file = local.env.locals.shared_file
  tags = read_terragrunt_config("${get_terragrunt_dir()}/../../../common/${local.file}")
}

dependency "db" {
  config_path  = "../${local.env.locals.db_unit}"
  mock_outputs = { id = "x" }
}
""",
}


def test_only_terragrunt_resolves_paths_computed_from_locals(tmp_path: Path) -> None:
    for name, text in COMPUTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    app = reported(tmp_path)["live/prod/app"]
    from_hcl = terragrunt_reads("live/prod/app", DiskFiles(tmp_path))

    # The dependency's path comes from env.hcl: only Terragrunt evaluates it.
    assert app.depends_on == {"live/prod/db"}
    assert from_hcl.depends_on == frozenset()
    # The file name comes from env.hcl too: Terragrunt names the file, the HCL reading can
    # only watch the whole directory (a glob), so an unrelated file there touches the unit.
    assert "common/tags.hcl" in app.reads and "common/*" in from_hcl.reads
    layers = [LayerSpec("app", "live/prod/app", 1), LayerSpec("db", "live/prod/db", 2)]
    assert analyse_changes(["common/other.hcl"], layers, tmp_path, dict(units(app))).layers == ()
    assert analyse_changes(["common/other.hcl"], layers, tmp_path).layers == ("app",)
    assert analyse_changes(["common/tags.hcl"], layers, tmp_path, dict(units(app))).layers == (
        "app",
    )


def units(*records: UnitReads) -> list[tuple[str, UnitReads]]:
    return [(r.dir, r) for r in records]


def test_find_output_keeps_units_inside_the_repository_that_report_something() -> None:
    text = """[
      {"type": "stack", "path": "stacks/prod"},
      {"type": "unit", "path": "app", "include": {"root": "root.hcl"},
       "reading": ["/etc/outside.hcl", "shared/env.hcl"], "dependencies": ["db", "/abs/vpc"]},
      {"type": "unit", "path": "broken"},
      {"type": "unit", "path": "/elsewhere/unit", "reading": ["x.hcl"]}
    ]"""
    assert read_find_output(text) == {
        "app": UnitReads("app", frozenset({"root.hcl", "shared/env.hcl"}), frozenset({"db"}))
    }


def test_without_terragrunt_there_is_no_report_and_the_hcl_reading_is_used(
    tmp_path: Path,
) -> None:
    no_terragrunt = base_env(PATH=str(tmp_path))
    assert terragrunt_units(copied(EXAMPLE, tmp_path), no_terragrunt) is None


@pytest.mark.parametrize("source", ["terragrunt", "hcl"])
def test_a_layer_ordered_before_a_unit_it_depends_on_is_reported(
    tmp_path: Path, source: str
) -> None:
    root = copied(EXAMPLE, tmp_path)
    config_path = root / "infra.yaml"
    # platform now applies last, after the two data units that read its outputs.
    config_path.write_text(
        config_path.read_text().replace(
            "engine: terragrunt, order: 2}", "engine: terragrunt, order: 9}"
        )
    )
    config = load_config(config_path)
    env = base_env() if source == "terragrunt" else base_env(PATH=str(tmp_path))
    problems = dependency_order(config, env)
    assert set(problems) == {"data-staging", "data-prod"}
    assert problems["data-prod"] == (
        "`data-prod` (order 4) depends on `platform` (order 9): envs/prod/data has a "
        "dependency on platform; give `platform` a lower order than `data-prod` in infra.yaml"
    )
    assert dependency_order(load_config(EXAMPLE / "infra.yaml"), env) == {}


def test_infra_validate_fails_on_a_layer_order_terragrunt_contradicts(tmp_path: Path) -> None:
    root = copied(EXAMPLE, tmp_path)
    config_path = root / "infra.yaml"
    config_path.write_text(
        config_path.read_text().replace(
            "engine: terragrunt, order: 2}", "engine: terragrunt, order: 9}"
        )
    )
    result = infra(root, "validate", "platform", "data-prod")
    assert result.code == 1
    assert "❌ data-prod" in result.out and "✅ platform" in result.out
    assert "give `platform` a lower order than `data-prod`" in result.out
