"""Which layers a pull request touches, from its changed file paths.

A layer is touched by a change under its own directory, under a local module it calls
(directly or through other local modules, Terraform `module` blocks and Terragrunt
`terraform { source }` alike), or matching one of its `watch` globs.

Parsing HCL costs milliseconds per file, so module calls are first read with a cheap text scan
that over-approximates them; `python-hcl2` then confirms only the layers that the scan says a
change might reach. Each directory is read and parsed at most once per call.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from infra_pipeline.errors import InfraError


@dataclass(frozen=True)
class LayerSpec:
    """What change detection needs of a layer; `path` is posix and relative to the repo root."""

    name: str
    path: str
    order: int
    watch: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeReport:
    layers: tuple[str, ...]
    warnings: tuple[str, ...]  # files that could not be read or parsed as HCL


def touched_layers(
    changed_files: Iterable[str], layers: Sequence[LayerSpec], repo_root: Path
) -> list[str]:
    """Names of the layers the changed files touch, in layer order."""
    return list(analyse_changes(changed_files, layers, repo_root).layers)


def analyse_changes(
    changed_files: Iterable[str], layers: Sequence[LayerSpec], repo_root: Path
) -> ChangeReport:
    """Like `touched_layers`, plus the warnings met while reading the layers' HCL."""
    files = {f for f in map(_normalise, changed_files) if f is not None}
    changed_dirs = _ancestor_dirs(files)
    watched = _WatchIndex(layers, files)
    graph = _ModuleGraph(repo_root)
    touched = [
        layer
        for layer in sorted(layers, key=lambda spec: spec.order)  # stable: ties keep config order
        if _normalise_dir(layer.path) in changed_dirs
        or watched.matches(layer)
        or (
            # The cheap scan can only over-report, so a miss there is final.
            not changed_dirs.isdisjoint(graph.layer_modules(layer, exact=False))
            and not changed_dirs.isdisjoint(graph.layer_modules(layer, exact=True))
        )
    ]
    return ChangeReport(tuple(spec.name for spec in touched), tuple(graph.warnings))


def _normalise(path: str) -> str | None:
    """A repo-relative posix path, or None for one that cannot be inside the repo."""
    norm = posixpath.normpath(path.strip().replace("\\", "/"))
    if norm in (".", "") or norm.startswith(("/", "../")) or norm == "..":
        return None
    return norm


def _normalise_dir(path: str) -> str:
    return _normalise(path) or ""  # "" is the repo root


def _ancestor_dirs(files: Iterable[str]) -> set[str]:
    """Every directory that holds a changed file at any depth ("" is the root)."""
    dirs: set[str] = set()
    for path in files:
        parent = posixpath.dirname(path)
        # Once a directory is known, so are all of its ancestors.
        while parent not in dirs:
            dirs.add(parent)
            if not parent:
                break
            parent = posixpath.dirname(parent)
    return dirs


class _WatchIndex:
    """Watch globs, each tried only against the files under its literal leading directory."""

    def __init__(self, layers: Sequence[LayerSpec], files: set[str]) -> None:
        self._globs = {spec.name: [_compile_glob(g) for g in spec.watch] for spec in layers}
        prefixes = {prefix for globs in self._globs.values() for prefix, _ in globs}
        self._under: dict[str, list[str]] = {prefix: [] for prefix in prefixes}
        if prefixes:
            for path in files:
                parent = posixpath.dirname(path)
                while True:
                    if parent in self._under:
                        self._under[parent].append(path)
                    if not parent:
                        break
                    parent = posixpath.dirname(parent)

    def matches(self, layer: LayerSpec) -> bool:
        return any(
            regex.fullmatch(path)
            for prefix, regex in self._globs.get(layer.name, ())
            for path in self._under[prefix]
        )


def _compile_glob(pattern: str) -> tuple[str, re.Pattern[str]]:
    """Translate a gitignore-style glob anchored at the repo root.

    `*` and `?` stay within one path segment, `**` spans any number of them, and a pattern
    that names a directory also matches everything below it. Returns the pattern's literal
    leading directory too, so only files below it need testing.
    """
    segments = [s for s in pattern.strip().strip("/").split("/") if s not in ("", ".")]
    parts: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    prefix: list[str] = []
    for segment in segments[:-1]:
        if any(ch in segment for ch in "*?["):
            break
        prefix.append(segment)
    try:
        return "/".join(prefix), re.compile("".join(parts) + "(?:/.*)?", re.DOTALL)
    except re.error as exc:  # only a character class such as `[z-a]` can get here
        raise InfraError(
            f"watch glob {pattern!r} is invalid: {exc}", "fix the layer's `watch` in infra.yaml"
        ) from exc


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        close = segment.find("]", i + 2) if ch == "[" else -1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif close != -1 and segment[i + 1 : close].lstrip("!^"):
            body = segment[i + 1 : close]
            negate = body[0] in "!^"
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[^/{body}]" if negate else f"[{body}]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


# Every local source appears as such a literal (Terraform allows no expressions in module
# sources), so this scan finds a superset of the real calls: commented-out blocks and
# non-module `source` attributes are what the HCL parse then removes.
_SOURCE = re.compile(r'\bsource\s*=\s*"([^"\n]*)"')
_TERRAGRUNT_FILE = "terragrunt.hcl"
_HCL_OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False)


class _ModuleGraph:
    """Local module calls between repo directories, each directory read at most once."""

    def __init__(self, repo_root: Path) -> None:
        self._root = repo_root
        self._texts: dict[str, list[tuple[str, str]]] = {}
        self._calls: dict[tuple[str, bool], frozenset[str]] = {}
        self.warnings: list[str] = []

    def layer_modules(self, layer: LayerSpec, *, exact: bool) -> set[str]:
        """The directories of every local module the layer reaches, transitively."""
        pending = self._config_dirs(_normalise_dir(layer.path))
        seen: set[str] = set()
        while pending:
            directory = pending.pop()
            if directory not in seen:  # also what stops cycles between modules
                seen.add(directory)
                pending.extend(self._module_calls(directory, exact))
        return seen

    def _config_dirs(self, layer_dir: str) -> list[str]:
        # Nested directories count too: Terragrunt layers keep one unit per subdirectory.
        top = self._root / layer_dir
        found = [layer_dir]
        for current, subdirs, _ in os.walk(top):
            # Hidden directories hold caches (.terraform, .terragrunt-cache) and VCS data.
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            here = Path(current).relative_to(top).as_posix()
            found.extend(_normalise_dir(posixpath.join(layer_dir, here, d)) for d in subdirs)
        return found

    def _module_calls(self, directory: str, exact: bool) -> frozenset[str]:
        key = (directory, exact)
        if key not in self._calls:
            calls: set[str] = set()
            for name, text in self._config_texts(directory):
                candidates = [m[1] for m in _SOURCE.finditer(text)]
                if not any(_local_dir(s, directory) is not None for s in candidates):
                    continue  # no local call here: spare the parse
                sources = self._parsed_sources(directory, name, text) if exact else None
                for source in candidates if sources is None else sources:
                    resolved = _local_dir(source, directory)
                    if resolved is not None:
                        calls.add(resolved)
            self._calls[key] = frozenset(calls)
        return self._calls[key]

    def _config_texts(self, directory: str) -> list[tuple[str, str]]:
        if directory not in self._texts:
            texts: list[tuple[str, str]] = []
            try:
                entries = sorted(os.scandir(self._root / directory), key=lambda e: e.name)
            except OSError:
                entries = []  # a module that does not exist (yet) calls nothing
            for entry in entries:
                if entry.name.endswith(".tf") or entry.name == _TERRAGRUNT_FILE:
                    try:
                        texts.append((entry.name, Path(entry.path).read_text(errors="replace")))
                    except OSError as exc:
                        self.warnings.append(f"{directory}/{entry.name}: unreadable ({exc})")
            self._texts[directory] = texts
        return self._texts[directory]

    def _parsed_sources(self, directory: str, name: str, text: str) -> list[str] | None:
        """Module sources per python-hcl2, or None when the file does not parse."""
        try:
            data = hcl2.loads(text, serialization_options=_HCL_OPTIONS)
        # The parser raises assorted lark and internal errors on malformed input; any of
        # them means the same here: fall back to the text scan.
        except Exception as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.warnings.append(
                f"{posixpath.join(directory, name)}: not valid HCL ({first_line}); "
                "module calls read with a text scan"
            )
            return None
        return _sources_in(data, terragrunt=name == _TERRAGRUNT_FILE)


def _sources_in(data: Any, *, terragrunt: bool) -> list[str]:
    """`source` of each `module` block (Terraform) or of the `terraform` block (Terragrunt)."""
    if not isinstance(data, dict):
        return []
    bodies: list[Any] = []
    for block in _as_list(data.get("terraform" if terragrunt else "module")):
        if terragrunt:
            bodies.append(block)
        elif isinstance(block, dict):
            bodies.extend(block.values())  # {"<module name>": {...body...}}
    sources = [body.get("source") for body in bodies if isinstance(body, dict)]
    return [_unquote(s) for s in sources if isinstance(s, str)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _unquote(value: str) -> str:
    # python-hcl2 v8 keeps string quotes unless told otherwise; be robust to either.
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _local_dir(source: str, calling_dir: str) -> str | None:
    """The repo-relative directory of a local module source, or None for a remote one."""
    base, rest = calling_dir, source.strip()
    # The two Terragrunt path functions whose value is known without evaluating config.
    if rest.startswith("${get_terragrunt_dir()}"):
        rest = "." + rest.removeprefix("${get_terragrunt_dir()}")
    elif rest.startswith("${get_repo_root()}"):
        base, rest = "", "." + rest.removeprefix("${get_repo_root()}")
    if not rest.startswith(("./", "../")) and rest not in (".", ".."):
        return None  # registry, git::, https://, s3:: … are not in this repo
    if "${" in rest:
        return None  # an expression we cannot evaluate
    # Terragrunt's `dir//subdir` names a subdirectory of a package; the path is the same.
    resolved = posixpath.normpath(posixpath.join(base, rest))
    if resolved == ".":
        return ""
    return None if resolved == ".." or resolved.startswith("../") else resolved
