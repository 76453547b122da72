"""Which layers a pull request touches, from its changed file paths.

A layer is touched by a change under its own directory, under a local module it calls
(directly or through other local modules, Terraform `module` blocks and Terragrunt
`terraform { source }` alike), or matching one of its `watch` globs.

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
from dataclasses import dataclass
from pathlib import Path

import hcl2
from lark import Token, Tree

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
        parent = path.rpartition("/")[0]
        # Once a directory is known, so are all of its ancestors.
        while parent not in dirs:
            dirs.add(parent)
            if not parent:
                break
            parent = parent.rpartition("/")[0]
    return dirs


class _WatchIndex:
    """Watch globs, each run once over the changed files below its literal leading directory."""

    def __init__(self, layers: Sequence[LayerSpec], files: set[str]) -> None:
        self._globs = {spec.name: [_compile_glob(g) for g in spec.watch] for spec in layers}
        # Paths with a newline cannot take part in the one-search-per-glob trick below.
        self._sorted = sorted(f for f in files if "\n" not in f)
        self._texts: dict[str, str] = {}
        self._hits: dict[tuple[str, str], bool] = {}

    def matches(self, layer: LayerSpec) -> bool:
        return any(self._hit(prefix, regex) for prefix, regex in self._globs.get(layer.name, ()))

    def _hit(self, prefix: str, regex: re.Pattern[str]) -> bool:
        key = (prefix, regex.pattern)
        if key not in self._hits:
            # One multiline search over the joined paths runs in C, unlike a loop of matches.
            self._hits[key] = regex.search(self._text_under(prefix)) is not None
        return self._hits[key]

    def _text_under(self, prefix: str) -> str:
        if prefix not in self._texts:
            paths = self._sorted
            if prefix:
                # Sorted paths below `prefix/` form one run, ending before `prefix0`.
                low = bisect.bisect_left(paths, prefix + "/")
                paths = paths[low : bisect.bisect_left(paths, prefix + "0", low)]
            self._texts[prefix] = "\n".join(paths)
        return self._texts[prefix]


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
        if segment == "**" and segments[i - 1 : i] == ["**"]:
            continue  # `**/**` is `**`, and repeating it would only add backtracking
        if segment == "**":
            parts.append(".*" if last else "(?:[^/\n]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    prefix: list[str] = []
    for segment in segments[:-1]:
        if any(ch in segment for ch in "*?["):
            break
        prefix.append(segment)
    try:
        return "/".join(prefix), re.compile("^" + "".join(parts) + "(?:/.*)?$", re.MULTILINE)
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
            out.append("[^/\n]*")
        elif ch == "?":
            out.append("[^/\n]")
        elif close != -1 and segment[i + 1 : close].lstrip("!^"):
            body = segment[i + 1 : close]
            negate = body[0] in "!^"
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[^/\n{body}]" if negate else f"[{body}]")
            i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


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

    def __init__(self, repo_root: Path) -> None:
        self._root_str = os.fspath(repo_root)
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

    def _config_dirs(self, layer_dir: str) -> list[str]:
        # Nested directories count too: Terragrunt layers keep one unit per subdirectory.
        found = []
        for current, subdirs, files in os.walk(self._native(layer_dir)):
            # Hidden directories hold caches (.terraform, .terragrunt-cache) and VCS data.
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            directory = self._repo_relative(current)
            self._listings[directory] = files
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
