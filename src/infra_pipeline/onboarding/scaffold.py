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

from .. import templates
from ..adapters import process
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
        lines.append(f"  {_scalar(layer.name)}:")
        lines.append(f"    path: {_scalar(layer.path)}")
        lines.append(f"    engine: {layer.engine.value}")
        lines.append(f"    order: {layer.order}")
        if layer.watch:
            lines.append(f"    watch: [{', '.join(json.dumps(w) for w in layer.watch)}]")
        if layer.env:
            pairs = ", ".join(f"{_scalar(k)}: {json.dumps(v)}" for k, v in layer.env.items())
            lines.append(f"    env: {{{pairs}}}")
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
    """`value` bare when YAML reads it back as the same string (not `on`, `null`, `2024`)."""
    plain = _PLAIN.match(value) is not None and yaml.safe_load(value) == value
    return value if plain else json.dumps(value)


def shown(path: Path, root: Path) -> str:
    """`path` relative to `root` when it is inside, for messages."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Workflows:
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
