"""Which layers a pull request touches, from its changed file paths.

A layer is touched by a change to:
- a file in its own directory, unless a deeper layer owns it (a Terragrunt unit may have
  another unit below it). A layer at the repository root owns only the configuration files
  directly in the root (`*.tf`, `*.hcl`, `*.tfvars` …): `docs/faq.md` touches nothing;
- a file below a local module it calls (its documentation aside), directly or through
  other local modules (Terraform `module` blocks and Terragrunt `terraform { source }`
  alike); a module at the root (a module repo's `examples/` calling `source = "../.."`) is
  touched only by the configuration files directly in the root;
- a file it reads: a Terragrunt `include`, `read_terragrunt_config`, `find_in_parent_folders`
  (`root.hcl`, `_envcommon/*.hcl`, `env.hcl` …), or a `file()`/`templatefile()` argument
  such as `${path.module}/../config.yaml` (that file only, not its siblings). What a
  Terragrunt unit reads comes from the `terragrunt` binary when the caller passes its
  report (`units`), else from reading the HCL (`core/hcl_reads.py`);
- a path matching one of its `watch` globs (gitignore syntax, anchored at the repo root).

Parsing HCL costs about a millisecond per block, so module calls are first read with a cheap
text scan that over-approximates them; `python-hcl2` then confirms only the layers that the
scan says a change might reach, parsing just the blocks that hold a candidate. Each directory
is read and parsed at most once per call.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import hcl2
import pathspec
from lark import Token, Tree
from msgspec import Struct

from infra_pipeline.errors import InfraError

from .hcl_reads import terraform_reads, terragrunt_copies, terragrunt_reads
from .unit_reads import UnitIndex, UnitReads

# Files that are part of a module's configuration, as opposed to docs or scripts beside it.
CONFIG_SUFFIXES = (
    ".tf",
    ".tf.json",
    ".tofu",
    ".tofu.json",
    ".tfvars",
    ".tfvars.json",
    ".hcl",
)
# Where a `.tf` file reads another file; texts without any of these skip the slower scan.
_READ_MARKERS = ("path.module", "path.root", "path.cwd", "file(", "fileset(")


class LayerSpec(Struct, frozen=True):
    """What change detection needs of a layer; `path` is posix and relative to the repo root."""

    name: str
    path: str
    order: int
    watch: tuple[str, ...] = ()


class ChangeReport(Struct, frozen=True):
    layers: tuple[str, ...]
    warnings: tuple[str, ...]  # files that could not be read or parsed as HCL


def touched_layers(
    changed_files: Iterable[str],
    layers: Sequence[LayerSpec],
    repo_root: Path,
    units: UnitIndex | None = None,
) -> list[str]:
    """Names of the layers the changed files touch, in layer order."""
    return list(analyse_changes(changed_files, layers, repo_root, units).layers)


def analyse_changes(
    changed_files: Iterable[str],
    layers: Sequence[LayerSpec],
    repo_root: Path,
    units: UnitIndex | None = None,
) -> ChangeReport:
    """Like `touched_layers`, plus the warnings met while reading the layers' HCL.

    `units` maps a Terragrunt unit's directory to what the `terragrunt` binary reported about
    it; units missing from it are read from their HCL.
    """
    files = {f for f in map(_normalise, changed_files) if f is not None}
    # Any file below a module may be read at run time (a template named by a variable), but
    # its documentation is not: a README or CHANGELOG beside it plans nothing.
    changed_dirs = _ancestor_dirs(f for f in files if not _is_documentation(f))
    root_config = any("/" not in f and f.endswith(CONFIG_SUFFIXES) for f in files)
    layer_dirs = {_normalise_dir(spec.path) for spec in layers}
    owned = {_owner(f, layer_dirs) for f in files}
    watched = _WatchIndex(layers, files)
    graph = _ModuleGraph(repo_root, layer_dirs, units or {})

    def module_touched(directory: str) -> bool:
        return root_config if not directory else directory in changed_dirs

    def reaches(layer: LayerSpec, exact: bool) -> bool:
        own = _normalise_dir(layer.path)
        return any(module_touched(d) for d in graph.layer_modules(layer, exact=exact) if d != own)

    touched = [
        layer
        for layer in sorted(layers, key=lambda spec: spec.order)  # stable: ties keep config order
        if _normalise_dir(layer.path) in owned
        or watched.matches(layer)
        or watched.reads(graph.layer_reads(layer))
        # The cheap scan can only over-report, so a miss there is final.
        or (reaches(layer, exact=False) and reaches(layer, exact=True))
    ]
    return ChangeReport(tuple(spec.name for spec in touched), tuple(graph.warnings))


_DOCUMENTATION = (".md", ".markdown", ".rst", ".adoc")
_DOCUMENTATION_NAMES = ("LICENSE", "LICENSE.txt", "NOTICE", "CODEOWNERS", "CHANGELOG")


def _is_documentation(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name.lower().endswith(_DOCUMENTATION) or name in _DOCUMENTATION_NAMES


def _owner(path: str, layer_dirs: set[str]) -> str | None:
    """The deepest layer directory holding `path`; the root layer holds only the
    configuration files directly in the root."""
    parent = path.rpartition("/")[0]
    while parent:
        if parent in layer_dirs:
            return parent
        parent = parent.rpartition("/")[0]
    return "" if "/" not in path and path.endswith(CONFIG_SUFFIXES) else None


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
        parent = path.rpartition("/")[0]
        # Once a directory is known, so are all of its ancestors.
        while parent not in dirs:
            dirs.add(parent)
            if not parent:
                break
            parent = parent.rpartition("/")[0]
    return dirs


class _WatchIndex:
    """Globs, each run once over the changed files below its literal leading directory."""

    def __init__(self, layers: Sequence[LayerSpec], files: set[str]) -> None:
        for spec in layers:
            for glob in spec.watch:
                _compile_glob(glob)  # an invalid watch glob fails whether or not it is reached
        self._watch = {spec.name: spec.watch for spec in layers}
        self._files = files
        self._sorted = sorted(files)
        self._below: dict[str, list[str]] = {}
        self._hits: dict[str, bool] = {}

    def matches(self, layer: LayerSpec) -> bool:
        return any(self._hit(glob) for glob in self._watch.get(layer.name, ()))

    def reads(self, paths: Iterable[str]) -> bool:
        """Whether a changed file is one of `paths`, below one of them, or matches one."""
        for path in paths:
            if _GLOB.search(path):
                if self._hit(path):
                    return True
            elif path in self._files or self._under(path):
                return True
        return False

    def _hit(self, glob: str) -> bool:
        if glob not in self._hits:
            prefix, spec = _compile_glob(glob)
            self._hits[glob] = any(spec.match_file(f) for f in self._under(prefix))
        return self._hits[glob]

    def _under(self, prefix: str) -> list[str]:
        if prefix not in self._below:
            paths = self._sorted
            if prefix:
                # Sorted paths below `prefix/` form one run, ending before `prefix0`.
                low = bisect.bisect_left(paths, prefix + "/")
                paths = paths[low : bisect.bisect_left(paths, prefix + "0", low)]
            self._below[prefix] = paths
        return self._below[prefix]


_GLOB = re.compile(r"[*?\[]")
_COMPUTED_SOURCE = re.compile(r"\bsource\s*=\s*\"?\$\{|\bsource\s*=\s*local\.")


def _compile_glob(pattern: str) -> tuple[str, pathspec.GitIgnoreSpec]:
    """A gitignore-style glob anchored at the repo root, and its literal leading directory
    (only files below it need testing).

    `*` and `?` stay within one path segment, `**` spans any number of them, and a pattern
    that names a directory also matches everything below it.
    """
    segments = [s for s in pattern.strip().strip("/").split("/") if s not in ("", ".")]
    prefix: list[str] = []
    for segment in segments[:-1]:
        if _GLOB.search(segment):
            break
        prefix.append(segment)
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(["/" + "/".join(segments)])
    except (re.error, ValueError) as exc:  # a character class such as `[z-a]`
        raise InfraError(
            f"watch glob {pattern!r} is invalid: {exc}", "fix the layer's `watch` in infra.yaml"
        ) from exc
    return "/".join(prefix), spec


# Every local source appears as such a literal (Terraform allows no expressions in module
# sources), so this scan finds a superset of the real calls: commented-out blocks and
# non-module `source` attributes are what the HCL parse then removes.
_SOURCE = re.compile(r'\bsource\s*=\s*"([^"\n]*)"')
_HEADER = re.compile(
    r'^[A-Za-z_][\w-]*(?:[ \t]+(?:"[^"\n]*"|[A-Za-z_][\w-]*))*[ \t]*\{', re.MULTILINE
)
_CLOSER = re.compile(r"^\}", re.MULTILINE)
_TERRAGRUNT_FILE = "terragrunt.hcl"


class _ModuleGraph:
    """Local module calls between repo directories, each directory read at most once."""

    def __init__(self, repo_root: Path, layer_dirs: set[str], units: UnitIndex) -> None:
        self._root_str = os.fspath(repo_root)
        self._layer_dirs = layer_dirs
        self._units = units
        self._unit_reads: dict[str, UnitReads] = {}
        self._kinds: dict[str, Literal["file", "dir"] | None] = {}
        self._listings: dict[str, list[str]] = {}
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

    def layer_reads(self, layer: LayerSpec) -> set[str]:
        """The files, directories and globs the layer's configuration reads outside itself."""
        layer_dir = _normalise_dir(layer.path)
        reads: set[str] = set()
        for directory in self._config_dirs(layer_dir):
            if _TERRAGRUNT_FILE in self._listings.get(directory, ()):
                reads |= self._terragrunt(directory).reads
        for directory in self.layer_modules(layer, exact=False):
            for _, text in self._config_texts(directory):
                if any(marker in text for marker in _READ_MARKERS):
                    reads |= terraform_reads(directory, layer_dir, text, self)
        return reads

    def _terragrunt(self, unit_dir: str) -> UnitReads:
        if unit_dir not in self._unit_reads:
            read = terragrunt_reads(unit_dir, self)
            reported = self._units.get(unit_dir)
            if reported is not None:
                # Terragrunt's report is exact for the configuration it parses (includes,
                # read_terragrunt_config, dependencies), but leaves out what Terraform reads:
                # `file()`, var files, a module a `generate` block calls. Those come from
                # reading the HCL. A glob with no known file name (`common/*`: a name the
                # HCL reading could not evaluate) may be a Terragrunt file it already named.
                others = {p for p in read.reads if not p.endswith((".hcl", "*"))}
                read = UnitReads.of(unit_dir, reported.reads | others, reported.depends_on)
            self._unit_reads[unit_dir] = read
        return self._unit_reads[unit_dir]

    # `RepoFiles`, for the HCL reading in hcl_reads.
    def text(self, path: str) -> str | None:
        try:
            return Path(self._native(path)).read_text(errors="replace")
        except OSError:
            return None

    def kind(self, path: str) -> Literal["file", "dir"] | None:
        if path not in self._kinds:
            native = Path(self._native(path))
            self._kinds[path] = "file" if native.is_file() else "dir" if native.is_dir() else None
        return self._kinds[path]

    def _config_dirs(self, layer_dir: str) -> list[str]:
        """The layer's directory and every Terragrunt unit below it that no deeper layer
        owns: a Terragrunt layer may keep one unit per subdirectory."""
        found = []
        for current, subdirs, files in os.walk(self._native(layer_dir)):
            directory = self._repo_relative(current)
            if directory != layer_dir and directory in self._layer_dirs:
                subdirs[:] = []
                continue
            # Hidden directories hold caches (.terraform, .terragrunt-cache) and VCS data.
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            self._listings[directory] = files
            if directory == layer_dir or _TERRAGRUNT_FILE in files:
                found.append(directory)
        return found or [layer_dir]

    def _native(self, directory: str) -> str:
        # Plain strings, not Path objects: path building showed up in the bench profile.
        return f"{self._root_str}{os.sep}{directory}" if directory else self._root_str

    def _repo_relative(self, native: str) -> str:
        return native[len(self._root_str) :].strip(os.sep).replace(os.sep, "/")

    def _module_calls(self, directory: str, exact: bool) -> frozenset[str]:
        key = (directory, exact)
        if key not in self._calls:
            calls: set[str] = set()
            for name, text in self._config_texts(directory):
                local = [
                    m for m in _SOURCE.finditer(text) if _local_dir(m[1], directory) is not None
                ]
                if not local and name == _TERRAGRUNT_FILE and _COMPUTED_SOURCE.search(text):
                    # `source = "${get_parent_terragrunt_dir()}/modules/x"`: as Terragrunt
                    # would evaluate it (an unknown one is "": no module to follow).
                    calls |= terragrunt_copies(directory, self) - {"", directory}
                    continue
                if not local:
                    continue  # no local call here: spare the parse
                sources = self._parsed_sources(directory, name, text, local) if exact else None
                for source in [m[1] for m in local] if sources is None else sources:
                    resolved = _local_dir(source, directory)
                    if resolved is not None:
                        calls.add(resolved)
            self._calls[key] = frozenset(calls)
        return self._calls[key]

    def _config_texts(self, directory: str) -> list[tuple[str, str]]:
        if directory not in self._texts:
            texts: list[tuple[str, str]] = []
            native = self._native(directory)
            if directory not in self._listings:
                try:
                    self._listings[directory] = [e.name for e in os.scandir(native) if e.is_file()]
                except OSError:
                    self._listings[directory] = []  # a module not there (yet) calls nothing
            for name in sorted(self._listings[directory]):
                if name.endswith(".tf") or name == _TERRAGRUNT_FILE:
                    try:
                        texts.append((name, Path(native, name).read_text(errors="replace")))
                    except OSError as exc:
                        self.warnings.append(f"{directory}/{name}: unreadable ({exc})")
            self._texts[directory] = texts
        return self._texts[directory]

    def _parsed_sources(
        self, directory: str, name: str, text: str, candidates: list[re.Match[str]]
    ) -> list[str] | None:
        """Module sources per python-hcl2, or None when the file does not parse.

        Parsing is the slow part (python-hcl2 turning the parse tree into dicts doubles it, so
        the tree is read directly), so the top-level blocks around the candidates are parsed
        first; if that excerpt does not parse, the whole file is.
        """
        excerpt = _enclosing_blocks(text, [m.start() for m in candidates])
        error: Exception | None = None
        for attempt in dict.fromkeys((excerpt, text)):  # the excerpt, then the whole file
            try:
                tree = hcl2.parses_to_tree(attempt)
            # The parser raises assorted lark and internal errors on malformed input; any of
            # them means the same here: try the next text, then fall back to the text scan.
            except Exception as exc:
                error = exc
                continue
            return _sources_in(tree, "terraform" if name == _TERRAGRUNT_FILE else "module")
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        self.warnings.append(
            f"{posixpath.join(directory, name)}: not valid HCL ({first_line}); "
            "module calls read with a text scan"
        )
        return None


def _enclosing_blocks(text: str, offsets: list[int]) -> str:
    """The top-level blocks holding the offsets, cut where `terraform fmt` puts block edges.

    A block header and its closing brace sit at column 0 in formatted code. Where a file is
    laid out otherwise, the excerpt fails to parse and the caller parses the whole file.
    """
    headers = [m.start() for m in _HEADER.finditer(text)]
    spans: list[tuple[int, int]] = []
    for offset in sorted(offsets):
        before = bisect.bisect_right(headers, offset) - 1
        start = headers[before] if before >= 0 else 0
        closer = _CLOSER.search(text, offset)
        end = closer.end() if closer else len(text)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return "\n".join(text[start:end] for start, end in spans)


def _sources_in(tree: Tree[Token], block_type: str) -> list[str]:
    """`source` of each top-level block of this type: `module` (Terraform) or `terraform`
    (Terragrunt). Works on python-hcl2's parse tree: start > body > block > body > attribute."""
    sources: list[str] = []
    for block in _subtrees(_subtrees([tree], "body")[:1], "block"):
        if _name(block) != block_type:
            continue
        for attribute in _subtrees(_subtrees([block], "body"), "attribute"):
            if _name(attribute) == "source":
                value = _string_value(attribute)
                if value is not None:
                    sources.append(value)
    return sources


def _subtrees(parents: list[Tree[Token]], data: str) -> list[Tree[Token]]:
    return [c for n in parents for c in n.children if isinstance(c, Tree) and c.data == data]


def _name(node: Tree[Token]) -> str | None:
    """The leading identifier of a block or attribute."""
    head = node.children[0] if node.children else None
    if isinstance(head, Tree) and head.data == "identifier" and head.children:
        return str(head.children[0])
    return None


def _string_value(attribute: Tree[Token]) -> str | None:
    """A string attribute's text; an interpolation reads `${f()}` for a call without
    arguments (the Terragrunt path functions) and `${?}` for anything else."""
    strings = _subtrees(_subtrees([attribute], "expr_term"), "string")
    if not strings:
        return None
    text: list[str] = []
    for part in _subtrees(strings[:1], "string_part"):
        for piece in part.children:
            if not isinstance(piece, Tree):
                text.append(str(piece))
                continue
            calls = _subtrees(_subtrees([piece], "expr_term"), "function_call")
            plain = calls and len(calls[0].children) == 3  # name ( )
            text.append(f"${{{_name(calls[0])}()}}" if plain else "${?}")
    return "".join(text)


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
