"""Writing a new `infra.yaml`: shared by `infra init` and `infra migrate atlantis`.

The YAML is rendered by hand (not `yaml.dump`) so that a team reads a file laid out like the
documentation's examples, with the schema hint and short comments, and every rendering is
validated with `parse_config` before anything is written.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import Engine
from ..errors import InfraError

SCHEMA_URL = "https://infra-pipeline.dev/schema/infra.schema.json"
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class LayerDraft:
    """A layer about to be written to infra.yaml."""

    name: str
    path: str  # POSIX, relative to infra.yaml
    engine: Engine
    order: int
    watch: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # layer names; written as a comment
    env: Mapping[str, str] = field(default_factory=dict)


def render_config(
    layers: Sequence[LayerDraft],
    *,
    header: Sequence[str],
    settings: Mapping[str, Any] | None = None,
) -> str:
    """infra.yaml text for `layers` (in order) and top-level `settings`, led by `header`."""
    lines = [f"# yaml-language-server: $schema={SCHEMA_URL}"]
    lines += [f"# {line}".rstrip() for line in header]
    lines += ["version: 1", "layers:"]
    for layer in sorted(layers, key=lambda item: item.order):
        if layer.depends_on:
            lines.append(f"  # after {', '.join(layer.depends_on)}")
        lines.append(f"  {layer.name}:")
        lines.append(f"    path: {_scalar(layer.path)}")
        lines.append(f"    engine: {layer.engine.value}")
        lines.append(f"    order: {layer.order}")
        if layer.watch:
            lines.append(f"    watch: [{', '.join(json.dumps(w) for w in layer.watch)}]")
        if layer.env:
            pairs = ", ".join(f"{_scalar(k)}: {json.dumps(v)}" for k, v in layer.env.items())
            lines.append(f"    env: {{{pairs}}}")
    if settings:
        dumped = yaml.safe_dump(dict(settings), sort_keys=False, default_flow_style=None)
        lines += dumped.rstrip("\n").splitlines()
    return "\n".join(lines) + "\n"


def dependency_order(
    depends: Mapping[str, AbstractSet[str]], key: Callable[[str], Any]
) -> list[str]:
    """Every node after the nodes it depends on; among those free to go, the smallest `key`."""
    waiting = {p: set(d) for p, d in depends.items()}
    users: dict[str, list[str]] = {p: [] for p in depends}
    for path, deps in depends.items():
        for dep in deps:
            users[dep].append(path)
    ready = [(key(p), p) for p, d in waiting.items() if not d]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, path = heapq.heappop(ready)
        ordered.append(path)
        for user in users[path]:
            waiting[user].discard(path)
            if not waiting[user]:
                heapq.heappush(ready, (key(user), user))
    if len(ordered) < len(depends):
        stuck = sorted(set(depends) - set(ordered))
        raise InfraError(
            f"{', '.join(stuck)} depend on each other in a cycle",
            "break the cycle, or write infra.yaml by hand with the order you apply them in",
        )
    return ordered


def write_new_files(files: Mapping[Path, str], *, force: bool) -> list[Path]:
    """Write every file, or none: without `force`, any that exists stops the whole write."""
    existing = [path for path in files if path.exists()]
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise InfraError(
            f"not overwriting {names}",
            "pass --force to replace them, or move them out of the way first",
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def _scalar(value: str) -> str:
    return value if _PLAIN.match(value) else json.dumps(value)
