"""Find a repository's root modules and propose `infra.yaml` layers for them (`infra init`).

Pure apart from reading files: nothing here runs Terraform or writes anything.

- A root module is a directory holding `*.tf` files or a `terragrunt.hcl`, outside any
  `modules/` directory, `.terraform`, and hidden directories, that no other configuration
  calls as a local module (`module { source = "../x" }`, terragrunt `terraform { source }`).
  A `terragrunt.hcl` whose directory holds further terragrunt configurations is the shared
  parent they `include`, not a layer.
- A layer depends on another through terragrunt `dependency` / `dependencies` blocks, a
  Terramate stack's `after`/`before` or its enclosing stack (`onboarding/terramate.py`), a
  `terraform_remote_state` whose state lives in the other layer (a local `path` under its
  directory, or the `key` of its backend), or any `${path.module}/…` file it reads there.
  Files read from outside every layer become `watch` globs.
- Layers are ordered dependencies first; among layers free to go next, shallower paths first,
  then by path with environment names in promotion order (dev, test, staging, prod).
- A layer is named after its directory; when several share that name, the parent directory
  is added until the names differ (`envs/staging/data` → `data-staging`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from lark.exceptions import LarkError
from msgspec import Struct, field

from ..adapters.repo_files import DiskFiles
from ..config import Engine
from ..core.changes import _local_dir
from ..core.hcl_reads import terragrunt_copies, terragrunt_reads
from ..core.unit_reads import is_under
from ..errors import InfraError
from . import engine_signals, terramate
from .scaffold import LayerDraft, order_with_cycles

TERRAGRUNT_FILE = "terragrunt.hcl"
STACK_FILE = "terragrunt.stack.hcl"
_SKIPPED_DIRS = frozenset({"modules", "node_modules", "__pycache__"})
_ENV_RANK = {
    name: rank
    for rank, names in enumerate(
        (
            ("sandbox", "dev", "develop", "development"),
            ("test", "testing", "qa", "ci", "int", "integration"),
            ("stage", "staging", "stg", "uat", "preprod", "pre-prod"),
            ("prod", "production", "prd", "live"),
        ),
        start=1,
    )
    for name in names
}
_HCL_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
# `${path.module}/../x/y.json` inside any string, including nested function calls.
_PATH_REF = re.compile(r"\$\{path\.(?:module|root|cwd)\}(/[^\"\\$}\s]*)")
_LAYER_CHARS = re.compile(r"[^a-z0-9_.-]+")


class Skipped(Struct, frozen=True):
    """A directory that holds configuration but is not proposed as a layer, and why."""

    path: str
    why: str


class Discovery(Struct, frozen=True):
    layers: tuple[LayerDraft, ...]
    warnings: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    cycles: tuple[tuple[str, ...], ...] = ()  # layer names that depend on each other


class _Module(Struct):
    path: str
    engine: Engine
    tf: list[Mapping[str, Any]] = field(default_factory=list)
    terragrunt: Mapping[str, Any] | None = None
    files: list[str] = field(default_factory=list)  # its *.tf / *.tofu file names
    # When every *.tf file is a symlink: the directories they point into (None: outside).
    links: set[str | None] | None = None


def discover(root: Path) -> Discovery:
    """Propose layers for every root module under `root`, in dependency order.

    Not proposed, each with the reason in `skipped`: a Terragrunt file other units include
    (the shared parent), a directory whose `.tf` files are all symlinks into a layer (the
    same configuration again), and a Terragrunt stack (`terragrunt.stack.hcl`: its units
    are generated at run time, so there is no directory to plan until they are). Dependency
    cycles do not stop discovery: the layers in each cycle are ordered together and named
    in `cycles`, for the user to fix.
    """
    warnings: list[str] = []
    skipped: list[Skipped] = []
    stacks: list[str] = []
    modules = {m.path: m for m in _read_modules(root, warnings, stacks)}
    disk = DiskFiles(root)
    # A unit whose source is its own directory (`source = "."`) calls no other module. A
    # source computed from Terragrunt functions (`${get_parent_terragrunt_dir()}/modules/x`)
    # is evaluated as Terragrunt would.
    called = {t for m in modules.values() for t in _local_sources(m) if t != m.path}
    called |= {
        source
        for p, m in modules.items()
        if m.terragrunt is not None
        for source in terragrunt_copies(p, disk)
        if source not in ("", p)
    }
    unit_reads = {
        p: terragrunt_reads(p, disk) for p, m in modules.items() if m.terragrunt is not None
    }
    included = {read for reads in unit_reads.values() for read in reads.reads}
    # An included file is a shared parent, unless a unit depends on its directory: then
    # Terragrunt runs it as a unit too (`dependency "template" { config_path = "../" }`).
    depended = {d for reads in unit_reads.values() for d in reads.depends_on}
    parents = {p for p in unit_reads if _join(p, TERRAGRUNT_FILE) in included and p not in depended}
    for parent in sorted(parents):
        users = sum(_join(parent, TERRAGRUNT_FILE) in r.reads for r in unit_reads.values())
        skipped.append(
            Skipped(parent or ".", f"shared Terragrunt configuration that {users} units include")
        )
    candidates = {p for p in modules if p not in called and p not in parents}
    for path in sorted(candidates):
        links = modules[path].links
        inside = {link for link in links or () if link is not None}
        if links and inside == links and inside <= candidates - {path}:
            shown = ", ".join(sorted(d or "." for d in inside))
            skipped.append(
                Skipped(path or ".", f"its .tf files are symlinks to {shown}, a layer already")
            )
    roots = {
        p: modules[p] for p in sorted(candidates) if not any(s.path == (p or ".") for s in skipped)
    }
    for stack in stacks:
        skipped.append(Skipped(stack or ".", _stack_reason(root, stack)))
    if not roots:
        found = "; ".join(f"{item.path}: {item.why}" for item in skipped)
        raise InfraError(
            f"no Terraform or Terragrunt root module found under {root}"
            + (f" (not layers: {found})" if found else ""),
            "run `infra init` in the repository that holds your *.tf or terragrunt.hcl files",
        )
    tofu = engine_signals.repository_signal(root)
    backend_keys = {key: p for p, m in roots.items() if (key := _backend_key(m))}
    depends: dict[str, set[str]] = {}
    watches: dict[str, set[str]] = {}
    for path, module in roots.items():
        depends[path], watches[path] = _references(module, roots, backend_keys)
        if path in unit_reads:
            depends[path] |= {d for d in unit_reads[path].depends_on if d in roots}
    stack_blocks = [tm for p in roots if (tm := terramate.read_stack(root, p, warnings))]
    for stack_path, before in terramate.stack_dependencies(stack_blocks).items():
        depends[stack_path] |= before
    order, cycles = order_with_cycles(depends, _sort_key)
    names = layer_names(list(roots))
    engines = {p: _engine(root, m, tofu) for p, m in roots.items()}
    layers = tuple(
        LayerDraft(
            name=names[path],
            path=path or ".",
            engine=engines[path][0],
            order=index,
            watch=tuple(sorted(watches[path])),
            depends_on=tuple(sorted(names[d] for d in depends[path])),
            env=engines[path][1],
        )
        for index, path in enumerate(order, start=1)
    )
    named_cycles = tuple(tuple(names[p] for p in cycle) for cycle in cycles)
    for cycle in named_cycles:
        warnings.append(
            f"{' and '.join(cycle)} depend on each other (a cycle): they are ordered by path; "
            "check their `order` before the first apply"
        )
    return Discovery(layers, tuple(warnings), tuple(skipped), named_cycles)


def _engine(root: Path, module: _Module, repo_tofu: str | None) -> tuple[Engine, dict[str, str]]:
    """The layer's engine and its `env`: OpenTofu when the repository or module says so."""
    signal = repo_tofu or engine_signals.module_signal(root / module.path, module.files, root)
    if signal is None and any(
        "encryption" in body for data in module.tf for body in _blocks(data, "terraform")
    ):
        signal = "encryption block"
    if signal is None:
        return module.engine, {}
    if module.engine is Engine.TERRAGRUNT:
        return Engine.TERRAGRUNT, {"TG_TF_PATH": "tofu"}
    return Engine.TOFU, {}


def _stack_reason(root: Path, stack: str) -> str:
    text = (root / stack / STACK_FILE).read_text(encoding="utf-8", errors="replace")
    units = re.findall(r'^\s*unit\s+"([^"]+)"', text, re.MULTILINE)
    stacks = re.findall(r'^\s*stack\s+"([^"]+)"', text, re.MULTILINE)
    parts = [f"{len(units)} units ({', '.join(units)})"] if units else []
    parts += [f"{len(stacks)} nested stacks"] if stacks else []
    return (
        f"a Terragrunt stack of {' and '.join(parts) or 'no units'}: its units are generated "
        "by `terragrunt stack generate`, and infra runs a unit's directory; generate the "
        "units and commit them (then run `infra init` again), or add the generated "
        "directories as layers by hand"
    )


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def read_hcl(path: Path) -> dict[str, Any]:
    """One HCL file as python-hcl2 8 reads it, with quotes stripped from strings and labels."""
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = hcl2.load(handle, serialization_options=_HCL_OPTIONS)
    return data


def _read_modules(root: Path, warnings: list[str], stacks: list[str]) -> Iterator[_Module]:
    for directory, subdirs, files in os.walk(root):
        # Pruning in place stops os.walk from descending into the skipped directories.
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        tf_files = sorted(f for f in files if f.endswith((".tf", ".tofu")))
        has_terragrunt = TERRAGRUNT_FILE in files
        here = Path(directory)
        rel = "" if here == root else here.relative_to(root).as_posix()  # "" is the root
        if STACK_FILE in files:
            stacks.append(rel)
        if not tf_files and not has_terragrunt:
            continue
        module = _Module(rel, Engine.TERRAGRUNT if has_terragrunt else Engine.TERRAFORM)
        module.files = tf_files
        if tf_files and all((here / f).is_symlink() for f in tf_files):
            module.links = {_link_dir(root, here / f) for f in tf_files}
        for name in [*tf_files, *([TERRAGRUNT_FILE] if has_terragrunt else [])]:
            try:
                data = read_hcl(here / name)
            except (LarkError, ValueError, OSError) as exc:  # ValueError: undecodable bytes
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                where = f"{rel}/{name}" if rel else name
                warnings.append(f"{where}: not read ({first}); its references are ignored")
                continue
            if name == TERRAGRUNT_FILE:
                module.terragrunt = data
            else:
                module.tf.append(data)
        yield module


def _link_dir(root: Path, link: Path) -> str | None:
    """The repo-relative directory a symlinked file points into, or None outside the repo."""
    target = link.resolve().parent
    resolved_root = root.resolve()
    if target == resolved_root:
        return ""
    return target.relative_to(resolved_root).as_posix() if resolved_root in target.parents else None


def _local_sources(module: _Module) -> Iterator[str]:
    """Directories this configuration calls as local modules, relative to the root."""
    bodies = [
        body for data in module.tf for block in _blocks(data, "module") for body in block.values()
    ]
    if module.terragrunt is not None:
        bodies += _blocks(module.terragrunt, "terraform")
    for body in bodies:
        source = _str(body, "source")
        if source is not None and (resolved := _local_dir(source, module.path)) is not None:
            yield resolved


def _references(
    module: _Module, roots: Mapping[str, _Module], backend_keys: Mapping[str, str]
) -> tuple[set[str], set[str]]:
    """(root modules this one depends on, watch globs for files it reads from elsewhere)."""
    depends: set[str] = set()
    targets: list[str | None] = []  # paths this configuration reaches into
    if module.terragrunt is not None:
        for block in _blocks(module.terragrunt, "dependency"):
            targets += [_relative(module.path, _str(b, "config_path")) for b in block.values()]
        for body in _blocks(module.terragrunt, "dependencies"):
            paths = body.get("paths")
            for item in paths if isinstance(paths, list) else []:
                targets.append(_relative(module.path, item if isinstance(item, str) else None))
    read: list[str] = []  # `${path.module}/…` files: a dependency, or else something to watch
    for data in module.tf:
        for config in _remote_state_configs(data):
            key = _str(config, "key") or _str(config, "prefix")
            if key is not None and key in backend_keys:
                depends.add(backend_keys[key])
            state_path = _str(config, "path")  # the local backend, relative to the layer
            targets.append(_relative(module.path, state_path))
        for text in _strings(data):
            for match in _PATH_REF.finditer(text):
                target = _local_dir("." + match.group(1), module.path)
                if target is not None and not is_under(target, module.path):
                    read.append(target)
    others = [p for p in roots if p != module.path]

    def owner(target: str) -> str | None:
        inside = [p for p in others if is_under(target, p)]
        return max(inside, key=len) if inside else None

    depends |= {dep for t in targets if t and (dep := owner(t))}
    watch: set[str] = set()
    for target in read:
        if (dep := owner(target)) is not None:
            depends.add(dep)
        elif not _in_modules_dir(target):
            watch.add(target)  # the file it reads, not its siblings
    depends.discard(module.path)
    return depends, watch


def _relative(base: str, target: str | None) -> str | None:
    """A path written relative to its configuration's directory (`../vpc`), repo-relative."""
    if not target:
        return None
    if not target.startswith(("${", "./", "../", "/")):
        target = "./" + target
    return _local_dir(target, base)


def _remote_state_configs(data: Mapping[str, Any]) -> Iterator[Any]:
    for block in _blocks(data, "data"):
        states = block.get("terraform_remote_state")
        for state in states.values() if isinstance(states, Mapping) else ():
            yield state.get("config") if isinstance(state, Mapping) else None


def _backend_key(module: _Module) -> str | None:
    for data in module.tf:
        for body in _blocks(data, "terraform"):
            for backend in _blocks(body, "backend"):
                for settings in backend.values():
                    key = _str(settings, "key") or _str(settings, "prefix")
                    if key:
                        return key
    return None


def _sort_key(path: str) -> tuple[int, tuple[tuple[int, str], ...]]:
    parts = PurePosixPath(path).parts
    return len(parts), tuple((_ENV_RANK.get(part.lower(), 0), part) for part in parts)


def layer_names(paths: Sequence[str]) -> dict[str, str]:
    """Each path's directory name, plus parent names for as long as it is ambiguous."""
    parts = {p: [slug(x) for x in reversed(PurePosixPath(p).parts)] or ["root"] for p in paths}
    depth = dict.fromkeys(paths, 1)
    while True:
        names = {p: "-".join(parts[p][: depth[p]]) or "root" for p in paths}
        taken = list(names.values())
        clashes = [p for p in paths if taken.count(names[p]) > 1 or names[p] == "all"]
        growable = [p for p in clashes if depth[p] < len(parts[p])]
        if not growable:
            break
        for p in growable:
            depth[p] += 1
    # Paths that still clash (only possible after slugging) get a counter.
    seen: dict[str, int] = {}
    for p in paths:
        count = seen[names[p]] = seen.get(names[p], 0) + 1
        if count > 1 or names[p] == "all":
            names[p] = f"{names[p]}-{count}"
    return names


def slug(part: str) -> str:
    """`part` as a valid layer name (lowercase letters, digits, - _ .)."""
    slug = _LAYER_CHARS.sub("-", part.lower()).strip("-._")
    return slug or "layer"


def _blocks(data: Any, kind: str) -> Iterator[Mapping[str, Any]]:
    """The bodies of every `kind` block (python-hcl2 gives a list of them per file)."""
    value = data.get(kind) if isinstance(data, Mapping) else None
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            yield item


def _str(body: Any, key: str) -> str | None:
    value = body.get(key) if isinstance(body, Mapping) else None
    return value if isinstance(value, str) else None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _in_modules_dir(path: str) -> bool:
    return any(part in _SKIPPED_DIRS for part in PurePosixPath(path).parts)
