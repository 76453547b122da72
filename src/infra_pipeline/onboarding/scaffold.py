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
from pathlib import Path
from typing import Any

import yaml
from msgspec import Struct, field

from .. import templates
from ..adapters import process
from ..config import Engine
from ..digraph import components as all_components
from ..digraph import strongly_connected
from ..errors import InfraError

SCHEMA_URL = "https://infra-pipeline.dev/schema/infra.schema.json"
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")


class LayerDraft(Struct, frozen=True):
    """A layer about to be written to infra.yaml."""

    name: str
    path: str  # POSIX, relative to infra.yaml
    engine: Engine
    order: int
    watch: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # layer names
    env: Mapping[str, str] = field(default_factory=dict)
    autoplan: bool | None = None  # None: the top-level `autoplan`
    apply_requirements: tuple[str, ...] = ()
    # Stage ("pre_plan", ...) -> steps as infra.yaml writes them ({name, run, shell, ...}).
    steps: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


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
    # A layer in a dependency cycle keeps its dependencies as a comment, so the file still
    # loads and the user breaks the cycle by hand (init and migrate name it).
    graph = {layer.name: layer.depends_on for layer in layers}
    cyclic = {name for cycle in strongly_connected(graph) for name in cycle}
    for layer in sorted(layers, key=lambda item: item.order):
        if layer.depends_on and layer.name in cyclic:
            lines.append(f"  # after {', '.join(layer.depends_on)} (a cycle: break it, then")
            lines.append("  # make this `depends_on`)")
        lines.append(f"  {_scalar(layer.name)}:")
        lines.append(f"    path: {_scalar(layer.path)}")
        lines.append(f"    engine: {layer.engine.value}")
        lines.append(f"    order: {layer.order}")
        if layer.depends_on and layer.name not in cyclic:
            names = ", ".join(_scalar(name) for name in layer.depends_on)
            lines.append(f"    depends_on: [{names}]")
        if layer.watch:
            lines.append(f"    watch: [{', '.join(json.dumps(w) for w in layer.watch)}]")
        if layer.env:
            pairs = ", ".join(f"{_scalar(k)}: {json.dumps(v)}" for k, v in layer.env.items())
            lines.append(f"    env: {{{pairs}}}")
        if layer.autoplan is not None:
            lines.append(f"    autoplan: {str(layer.autoplan).lower()}")
        if layer.apply_requirements:
            lines.append(f"    apply_requirements: [{', '.join(layer.apply_requirements)}]")
        if layer.steps:
            lines.append("    steps:")
            for stage, steps in layer.steps.items():
                lines.append(f"      {stage}:")
                lines += [f"        - {_flow(step)}" for step in steps]
    if settings:
        # One key at a time: a mapping of scalars would otherwise come out as `{jobs: 1}`.
        for key, value in settings.items():
            dumped = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=None)
            if dumped.startswith("{"):
                dumped = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False)
            lines += dumped.rstrip("\n").splitlines()
    return "\n".join(lines) + "\n"


def dependency_order(
    depends: Mapping[str, AbstractSet[str]], key: Callable[[str], Any]
) -> list[str]:
    """Every node after the nodes it depends on; among those free to go, the smallest `key`.

    Refuses a cycle, naming each one (a strongly connected component), not every node stuck
    behind it.
    """
    order, cycles = order_with_cycles(depends, key)
    if cycles:
        named = "; ".join(", ".join(cycle) for cycle in cycles)
        raise InfraError(
            f"{named} depend on each other in a cycle",
            "break the cycle, or write infra.yaml by hand with the order you apply them in",
        )
    return order


def order_with_cycles(
    depends: Mapping[str, AbstractSet[str]], key: Callable[[str], Any]
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Like `dependency_order`, but a cycle is ordered too: its members go together, by `key`,
    where the cycle as a whole can go. Returns the order and the cycles (each sorted)."""
    components = all_components(depends)
    component_of = {node: index for index, nodes in enumerate(components) for node in nodes}
    between: dict[int, set[int]] = {i: set() for i in range(len(components))}
    for node, deps in depends.items():
        for dep in deps:
            if dep in component_of and component_of[dep] != component_of[node]:
                between[component_of[node]].add(component_of[dep])
    sort_keys = {i: min(key(n) for n in nodes) for i, nodes in enumerate(components)}
    waiting = {i: set(d) for i, d in between.items()}
    users: dict[int, list[int]] = {i: [] for i in between}
    for component, deps_of in between.items():
        for dep_component in deps_of:
            users[dep_component].append(component)
    ready = [(sort_keys[i], i) for i, d in waiting.items() if not d]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, index = heapq.heappop(ready)
        ordered += sorted(components[index], key=key)
        for user in users[index]:
            waiting[user].discard(index)
            if not waiting[user]:
                heapq.heappush(ready, (sort_keys[user], user))
    cycles = [
        tuple(sorted(nodes, key=key))
        for nodes in components
        if len(nodes) > 1 or any(n in depends.get(n, ()) for n in nodes)
    ]
    return ordered, sorted(cycles, key=lambda c: key(c[0]))


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


def _flow(mapping: Mapping[str, Any]) -> str:
    """A mapping on one line, `{name: tflint, run: [tflint], ...}`, strings quoted only where
    YAML needs it."""
    dumped = yaml.safe_dump(dict(mapping), default_flow_style=True, width=10_000, sort_keys=False)
    return dumped.strip()


def _scalar(value: str) -> str:
    """`value` bare when YAML reads it back as the same string (not `on`, `null`, `2024`)."""
    plain = _PLAIN.match(value) is not None and yaml.safe_load(value) == value
    return value if plain else json.dumps(value)


def shown(path: Path, root: Path) -> str:
    """`path` relative to `root` when it is inside, for messages."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class Workflows(Struct, frozen=True):
    root: Path  # the repository's root, where .github/workflows lives
    values: templates.TemplateValues
    files: dict[Path, str]


def workflow_files(
    config_file: Path,
    *,
    matrix: bool,
    default_branch: str | None,
    env: Mapping[str, str],
    long: bool = False,
    action: str = "",
) -> Workflows:
    """ci.yml (short, `long`, or the scale-out `matrix` variant) and docs.yml for the
    repository holding config_file; `action` is the GitHub Action's OWNER/REPO@REF."""
    top = _git(["rev-parse", "--show-toplevel"], config_file.parent, env)
    root = Path(top).resolve() if top else config_file.parent
    values = templates.TemplateValues(
        default_branch=default_branch or _default_branch(root, env),
        config_path=config_file.relative_to(root).as_posix(),
        action=action,
    )
    workflows = root / ".github" / "workflows"
    variant = templates.CI_MATRIX if matrix else templates.CI_LONG if long else templates.CI
    ci = templates.render(variant, values)
    docs = templates.render(templates.DOCS, values)
    files = {workflows / "ci.yml": ci, workflows / "docs.yml": docs}
    return Workflows(root, values, files)


def _default_branch(root: Path, env: Mapping[str, str]) -> str:
    """origin's HEAD when the clone knows it, else `main` (`--default-branch` overrides both)."""
    head = _git(["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], root, env)
    return head.split("/", 1)[1] if head and "/" in head else "main"


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> str | None:
    """`git args` stdout, or None outside a git repository or without git."""
    try:
        result = process.run(["git", *args], cwd=cwd, env=env, timeout=30)
    except InfraError:
        return None  # no git: the directory stands for the repository
    return result.stdout.strip() if result.returncode == 0 else None
