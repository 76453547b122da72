"""The layers' dependency graph for this checkout: `depends_on` from infra.yaml plus the
Terragrunt `dependency`/`dependencies` blocks between layers, which nobody should have to
write twice. What a unit depends on comes from the `terragrunt` binary's report when the
caller has one (`units`), else from reading its HCL. The graph also says which layers must
never run at the same time (`apart_layers`): Terragrunt copies trees other layers write in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..adapters.repo_files import DiskFiles
from ..config import Config, Engine
from ..core.layer_graph import LayerGraph
from ..core.unit_reads import UnitIndex, apart, is_under, repo_path
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..core.hcl_reads import RepoFiles


def layer_graph(config: Config, units: UnitIndex | None = None) -> LayerGraph:
    """Every layer and what it depends on. A cycle, declared or through Terragrunt, is a
    ConfigError that names it."""
    declared = {name: set(layer.depends_on) for name, layer in config.layers.items()}
    for name, deps in terragrunt_dependencies(config, units).items():
        declared[name] |= deps
    try:
        return LayerGraph.build(
            {n: layer.order for n, layer in config.layers.items()}, declared, apart_layers(config)
        )
    except ValueError as exc:
        raise ConfigError(
            f"{config.source or 'infra.yaml'}: layers: {exc}",
            "remove one `depends_on` (or Terragrunt `dependency`) of each cycle",
        ) from exc


def terragrunt_dependencies(config: Config, units: UnitIndex | None = None) -> dict[str, set[str]]:
    """Layer → the other layers its Terragrunt units depend on."""
    dirs = {name: repo_path(layer.path) or "" for name, layer in config.layers.items()}
    files = DiskFiles(config.root)

    def owner(unit_dir: str) -> str | None:
        """The layer whose directory holds `unit_dir` (the deepest, when layers nest)."""
        holders = [n for n, d in dirs.items() if is_under(unit_dir, d)]
        return max(holders, key=lambda n: len(dirs[n])) if holders else None

    found: dict[str, set[str]] = {}
    for name, layer in config.layers.items():
        if layer.engine is not Engine.TERRAGRUNT:
            continue
        from ..core.hcl_reads import terragrunt_reads  # Terragrunt layers only (_copied_trees)

        unit = dirs[name]
        reads = (units or {}).get(unit) or terragrunt_reads(unit, files)
        deps = {d for dep in reads.depends_on if (d := owner(dep)) is not None} - {name}
        if deps:
            found[name] = deps
    return found


def apart_layers(config: Config) -> dict[str, frozenset[str]]:
    """Layer → the layers it must not run beside (plan or apply): a Terragrunt layer copies
    its source trees, and those of every unit it reads outputs from, on each run; a layer
    whose directory lies in one of them writes there while it runs (`unit_reads.apart`).
    Layers on one directory (one workspace each) share its `.terraform`: one at a time."""
    dirs = {name: repo_path(layer.path) or "" for name, layer in config.layers.items()}
    files = DiskFiles(config.root)
    copies = {
        name: _copied_trees(dirs[name], files)
        for name, layer in config.layers.items()
        if layer.engine is Engine.TERRAGRUNT
    }
    pairs = {name: set(others) for name, others in apart(dirs, copies).items()}
    for name, directory in dirs.items():
        shared = {other for other, d in dirs.items() if d == directory and other != name}
        if shared:
            pairs.setdefault(name, set()).update(shared)
    return {name: frozenset(others) for name, others in pairs.items()}


def _copied_trees(unit: str, files: RepoFiles) -> frozenset[str]:
    """What running `unit` copies: its own source trees, and (to fetch their outputs) those
    of the units it depends on, and theirs in turn."""
    # Imported here: the HCL reading's patterns are compiled on import, and a repository
    # without Terragrunt layers never needs them (a third of `infra plan`'s start).
    from ..core.hcl_reads import terragrunt_copies, terragrunt_reads

    trees: set[str] = set()
    seen: set[str] = set()
    todo = [unit]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        trees |= terragrunt_copies(current, files)
        todo.extend(terragrunt_reads(current, files).depends_on)
    return frozenset(trees)
