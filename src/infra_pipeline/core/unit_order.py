"""Whether the layers' `order` agrees with the dependencies between their units.

Layers apply one at a time in ascending `order`. A Terragrunt unit reads the outputs of the
units in its `dependency` blocks, so a layer that applies before a layer it depends on would
plan against outputs that are about to change, or fail on outputs that do not exist yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .unit_reads import UnitIndex, repo_path

if TYPE_CHECKING:  # change detection's module loads the HCL parser; this one reads no HCL
    from .changes import LayerSpec


def order_conflicts(layers: Sequence[LayerSpec], units: UnitIndex) -> dict[str, str]:
    """Per layer name, why its `order` is wrong: a unit in it depends on a unit of a layer
    that does not apply before it. Units outside every layer (or in the same layer) are
    Terragrunt's own business."""
    dirs = {repo_path(spec.path) or "": spec for spec in layers}

    def owner(directory: str) -> LayerSpec | None:
        # The deepest layer holding the directory: a layer may keep units below it.
        while True:
            if directory in dirs:
                return dirs[directory]
            if not directory:
                return None
            directory = directory.rpartition("/")[0]

    problems: dict[str, str] = {}
    for unit in sorted(units.values(), key=lambda u: u.dir):
        layer = owner(unit.dir)
        for dependency in sorted(unit.depends_on):
            other = owner(dependency)
            if layer is None or other is None or other is layer or layer.name in problems:
                continue
            if other.order >= layer.order:
                problems[layer.name] = (
                    f"`{layer.name}` (order {layer.order}) depends on `{other.name}` "
                    f"(order {other.order}): {unit.dir} has a dependency on {dependency}; "
                    f"give `{other.name}` a lower order than `{layer.name}` in infra.yaml"
                )
    return problems
