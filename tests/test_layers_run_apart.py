"""Layers that must not run at the same time: Terragrunt copies a unit's source tree on every
command (and a dependency's, to read its outputs), listing the files and then opening each;
a layer planning meanwhile creates and removes `terraform.tfstate` in its own directory
(OpenTofu's local backend locks the state that way), and the copy fails with
"open …/terraform.tfstate: no such file or directory". So a layer whose directory lies in a
tree another layer copies plans and applies before or after it, never beside it; layers whose
trees do not meet still plan in parallel."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

from homelab import EXAMPLE, LAYER_DIRS, base_env, copy_example
from infra_pipeline.adapters.repo_files import DiskFiles
from infra_pipeline.config import Layer, load_config
from infra_pipeline.core.custom_steps import NO_CONTEXT
from infra_pipeline.core.hcl_reads import terragrunt_code_dir, terragrunt_copies
from infra_pipeline.core.unit_reads import apart
from infra_pipeline.errors import InfraError
from infra_pipeline.flows.dependencies import apart_layers, layer_graph
from infra_pipeline.flows.pipeline import make_engine_factory, plan_layers
from infra_pipeline.models import Outcome

LIVE = Path(__file__).parent / "data" / "terragrunt-infrastructure-live-example"


def unit(root: Path, directory: str, hcl: str) -> None:
    (root / directory).mkdir(parents=True, exist_ok=True)
    (root / directory / "terragrunt.hcl").write_text(hcl)


def test_the_tree_a_units_source_copies(tmp_path: Path) -> None:
    root = tmp_path
    (root / "live").mkdir()
    (root / "live" / "root.hcl").write_text(
        "terraform {\n"
        '  source = "${get_parent_terragrunt_dir()}//${path_relative_to_include()}"\n'
        "}\n"
    )
    sources = {
        "a": 'terraform {\n  source = "..//a"\n}\n',  # the example's form: the whole repo
        "live/b": 'terraform {\n  source = "../../modules//vpc"\n}\n',
        "live/c": 'terraform {\n  source = "../../modules/vpc"\n}\n',  # no `//`: the module
        "live/d": 'terraform {\n  source = "${get_repo_root()}/modules//vpc"\n}\n',
        # the source in the included root.hcl: the tree of the file that holds it
        "live/e": 'include "root" {\n  path = find_in_parent_folders("root.hcl")\n}\n',
        "live/f": 'terraform {\n  source = "git::https://example.com/m.git//vpc?ref=v1"\n}\n',
        "live/g": 'locals {\n  url = "git::git@example.com:m.git//vpc"\n}\n'
        'terraform {\n  source = "${local.url}?ref=v2"\n}\n',
        "live/h": 'terraform {\n  source = "${local.computed}//vpc"\n}\n',  # unknown: all
        "live/i": 'inputs = {\n  name = "i"\n}\n',  # no source: Terragrunt copies the unit
        "live/j": 'terraform {\n  source = "../../../..//x"\n}\n',  # leaves the repository
    }
    for directory, hcl in sources.items():
        unit(root, directory, hcl)
    files = DiskFiles(root)
    # The unit's own directory is always copied: Terragrunt lays its files over the source.
    assert {d: set(terragrunt_copies(d, files)) - {d} for d in sources} == {
        "a": {""},
        "live/b": {"modules"},
        "live/c": {"modules/vpc"},
        "live/d": {"modules"},
        "live/e": {"live"},
        "live/f": set(),
        "live/g": set(),
        "live/h": {""},
        "live/i": set(),
        "live/j": {""},
    }
    assert all(d in terragrunt_copies(d, files) for d in sources)
    assert {d: terragrunt_code_dir(d, files) for d in sources} == {
        "a": "a",
        "live/b": "modules/vpc",
        "live/c": "modules/vpc",
        "live/d": "modules/vpc",
        "live/e": None,  # `${path_relative_to_include()}`: not known without Terragrunt
        "live/f": None,
        "live/g": None,
        "live/h": None,
        "live/i": None,
        "live/j": None,
    }


def test_a_layer_whose_directory_lies_in_a_copied_tree_runs_apart() -> None:
    dirs = {"net": "live/net", "app": "live/app", "db": "live/db", "tf": "tf"}
    found = apart(dirs, {"app": {"live/app", "live/net"}, "db": {"modules"}})
    assert found == {"app": frozenset({"net"}), "net": frozenset({"app"})}
    assert apart(dirs, {"db": {""}})["db"] == frozenset({"net", "app", "tf"})


def test_the_example_keeps_only_platform_apart_from_the_units_that_read_its_outputs() -> None:
    """The units take their code from the modules tree (`../modules//platform`), which holds
    no layer; the data units copy platform's directory to read its outputs, where platform's
    own run creates and removes its state file."""
    config = load_config(EXAMPLE / "infra.yaml")
    found = apart_layers(config)
    assert found == {
        "platform": frozenset({"data-staging", "data-prod"}),
        "data-staging": frozenset({"platform"}),
        "data-prod": frozenset({"platform"}),
    }
    assert layer_graph(config).apart == found


def test_units_whose_source_copies_the_whole_repository_all_run_apart(tmp_path: Path) -> None:
    """The race this rule exists for: with `..//<unit>` (the example's earlier layout, the
    unit's code beside its terragrunt.hcl), every copy holds every layer's directory."""
    root = copy_example(tmp_path)
    for layer in ("platform", "data-staging", "data-prod"):
        unit_dir = LAYER_DIRS[layer]
        hcl = root / unit_dir / "terragrunt.hcl"
        whole = f'source = "..{"/.." * unit_dir.count("/")}//{unit_dir}"'  # ../../..//envs/…
        hcl.write_text(re.sub(r'source = "[^"]*"', whole, hcl.read_text()))
    config = load_config(root / "infra.yaml")
    names = set(config.layers)
    assert apart_layers(config) == {name: frozenset(names - {name}) for name in names}


def test_the_example_plans_platform_first_then_both_data_units_side_by_side() -> None:
    config = load_config(EXAMPLE / "infra.yaml")
    events: list[str] = []
    plan_layers(
        config.ordered_layers,
        Engine,  # type: ignore[arg-type]
        jobs=4,
        apart=apart_layers(config),
        on_start=lambda layer: events.append(f"start {layer.name}"),
        on_done=lambda run: events.append(f"done {run.layer}"),
    )
    assert events[:2] == ["start bootstrap", "start platform"]
    done_platform = events.index("done platform")
    assert events.index("start data-staging") > done_platform
    assert events.index("start data-prod") > done_platform
    # Nothing keeps the two data units apart: the second starts before the first is done.
    assert events.index("start data-prod") < events.index("done data-staging")


def test_a_dependency_without_a_source_runs_apart_from_its_dependents(tmp_path: Path) -> None:
    """To read `vpc`'s outputs, Terragrunt copies `vpc` (its own directory) for `app`."""
    unit(tmp_path, "vpc", "inputs = {}\n")
    unit(tmp_path, "app", 'dependency "vpc" {\n  config_path = "../vpc"\n}\n')
    unit(tmp_path, "other", 'terraform {\n  source = "git::https://example.com/m.git//x"\n}\n')
    (tmp_path / "infra.yaml").write_text(
        "version: 1\nlayers:\n"
        "  vpc: {path: vpc, engine: terragrunt, order: 1}\n"
        "  app: {path: app, engine: terragrunt, order: 2}\n"
        "  other: {path: other, engine: terragrunt, order: 3}\n"
    )
    found = apart_layers(load_config(tmp_path / "infra.yaml"))
    assert found == {"vpc": frozenset({"app"}), "app": frozenset({"vpc"})}


def test_units_with_remote_sources_still_plan_in_parallel(tmp_path: Path) -> None:
    root = tmp_path / "live"
    shutil.copytree(LIVE, root)
    lines = ["version: 1", "layers:"]
    units = sorted(p.parent for p in root.rglob("terragrunt.hcl") if p.parent != root)
    for order, path in enumerate(units, start=1):
        name = str(path.relative_to(root)).replace("/", "-")
        lines.append(
            f"  {name}: {{path: {path.relative_to(root)}, engine: terragrunt, order: {order}}}"
        )
    (root / "infra.yaml").write_text("\n".join(lines) + "\n")
    config = load_config(root / "infra.yaml")
    assert len(config.layers) >= 6
    assert apart_layers(config) == {}


class Engine:
    """Stands in for the Terraform engine of one layer: its plan fails at once, which is all
    the order of the callbacks needs."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        # What flows/pipeline.py reads for the layer's custom steps (the example has none).
        self.config = load_config(EXAMPLE / "infra.yaml")
        self.context = NO_CONTEXT
        self.steps_ran: list[object] = []

    def plan(self) -> None:
        raise InfraError(f"{self.layer.name}: no engine here", "")


def test_plans_of_layers_kept_apart_run_one_after_the_other() -> None:
    config = load_config(EXAMPLE / "infra.yaml")
    layers = config.ordered_layers
    events: list[str] = []
    runs = plan_layers(
        layers,
        Engine,  # type: ignore[arg-type]
        jobs=4,
        apart={"platform": frozenset({"data-staging"}), "data-staging": frozenset({"platform"})},
        on_start=lambda layer: events.append(f"start {layer.name}"),
        on_done=lambda run: events.append(f"done {run.layer}"),
    )
    # The callbacks run on the scheduling thread: bootstrap, platform and data-prod start
    # together; data-staging only once platform has ended.
    assert events[:3] == ["start bootstrap", "start platform", "start data-prod"]
    assert events.index("start data-staging") > events.index("done platform")
    assert [run.layer for run in runs] == [layer.name for layer in layers]  # the given order
    assert all(run.outcome is Outcome.FAILED for run in runs)  # a failed plan skips nothing


WRAPPER = """#!/bin/sh
echo "start $$ $PWD" >> {log}
"{tofu}" "$@"
code=$?
echo "end $$ $PWD" >> {log}
exit $code
"""


def test_the_example_units_never_run_the_engine_at_the_same_time(tmp_path: Path) -> None:
    """Real Terragrunt plans platform and data-staging (which reads platform's outputs); a
    wrapper around OpenTofu logs each process, and no two layers' processes overlap."""
    tofu = shutil.which("tofu", path=base_env()["PATH"])
    assert tofu is not None, "tofu is not on PATH: run `make tools`"
    root = copy_example(tmp_path)
    log = tmp_path / "engine.log"
    wrapper = tmp_path / "tofu-logged"
    wrapper.write_text(WRAPPER.format(log=log, tofu=tofu))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    config = load_config(root / "infra.yaml")
    layers = [config.layers["platform"], config.layers["data-staging"]]
    env = base_env(TG_TF_PATH=str(wrapper))
    runs = plan_layers(layers, make_engine_factory(config, env), jobs=2, apart=apart_layers(config))
    assert [run.outcome for run in runs] == [Outcome.CHANGES, Outcome.CHANGES], runs

    def owner(cwd: str) -> str:
        return "data-staging" if f"{os.sep}envs{os.sep}" in cwd else "platform"

    running: dict[str, str] = {}  # pid → layer
    for line in log.read_text().splitlines():
        what, pid, cwd = line.split(" ", 2)
        if what == "start":
            others = {layer for layer in running.values() if layer != owner(cwd)}
            assert not others, f"{owner(cwd)} ran OpenTofu while {others} did"
            running[pid] = owner(cwd)
        else:
            running.pop(pid)
    assert set(map(owner, (line.split(" ", 2)[2] for line in log.read_text().splitlines()))) == {
        "platform",
        "data-staging",
    }
