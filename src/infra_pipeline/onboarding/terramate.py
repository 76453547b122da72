"""The order Terramate runs a repository's stacks in, for `infra init` to keep.

A Terramate stack is a directory whose `*.tm.hcl` files hold a `stack { … }` block. Terramate
runs a parent stack before the stacks nested below it, and honours each stack's `after` and
`before` lists: stack paths (`/stacks/vpc` from the repository root, or `../vpc` from the
stack) and tag filters (`tag:vpc` is every stack tagged `vpc`; `tag:a:b` those tagged both).
The generated Terraform of a stack is committed beside it, so the stacks are the layers; this
module only says which layer waits for which.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from lark.exceptions import LarkError
from msgspec import Struct

from ..core.unit_reads import is_under, repo_path

_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


class Stack(Struct, frozen=True):
    path: str  # repo-relative, "" for the root
    tags: frozenset[str]
    after: tuple[str, ...]
    before: tuple[str, ...]


def read_stack(root: Path, path: str, warnings: list[str]) -> Stack | None:
    """The `stack` block among the `*.tm.hcl` files of `path`, or None when there is none."""
    directory = root / path if path else root
    for file in sorted(directory.glob("*.tm.hcl")):
        text = file.read_text(encoding="utf-8", errors="replace")
        if "stack" not in text:
            continue
        try:
            data: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
        except (LarkError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            warnings.append(f"{file.relative_to(root)}: not read ({first}); its order is ignored")
            continue
        blocks = data.get("stack")
        for body in blocks if isinstance(blocks, list) else [blocks]:
            if isinstance(body, Mapping):
                return Stack(path, frozenset(_strings(body, "tags")), *_order(body))
    return None


def stack_dependencies(stacks: Iterable[Stack]) -> dict[str, set[str]]:
    """Each stack's path → the paths of the stacks Terramate runs before it."""
    by_path = {stack.path: stack for stack in stacks}
    waits: dict[str, set[str]] = {path: set() for path in by_path}
    for stack in by_path.values():
        parents = [p for p in by_path if p != stack.path and is_under(stack.path, p)]
        if parents:
            waits[stack.path].add(max(parents, key=len))  # the nearest enclosing stack
        for reference in stack.after:
            waits[stack.path] |= _select(reference, stack.path, by_path)
        for reference in stack.before:
            for other in _select(reference, stack.path, by_path):
                waits[other].add(stack.path)
    for path, before in waits.items():
        before.discard(path)
    return waits


def _select(reference: str, here: str, stacks: Mapping[str, Stack]) -> set[str]:
    if reference.startswith("tag:"):
        wanted = set(reference.removeprefix("tag:").split(":"))
        return {p for p, s in stacks.items() if wanted <= s.tags}
    if reference.startswith("/"):
        target = repo_path(reference.lstrip("/") or ".")
    else:
        target = repo_path(posixpath.join(here, reference) if here else reference)
    return {target} if target is not None and target in stacks else set()


def _order(body: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(_strings(body, "after")), tuple(_strings(body, "before"))


def _strings(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
