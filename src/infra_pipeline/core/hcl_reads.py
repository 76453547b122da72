"""The files a configuration reads, found by reading its HCL without evaluating it.

This is the fallback for when the `terragrunt` binary is not installed (with it, Terragrunt
reports a unit's includes and reads itself). It understands the forms that real live
repositories use, and nothing more:

- Terragrunt: `include` paths, `read_terragrunt_config(…)`, `find_in_parent_folders("x")`
  (the nearest `x` above the unit; with no argument, the nearest parent `terragrunt.hcl` or
  `root.hcl`), `dirname(…)`, `get_repo_root()`, `get_terragrunt_dir()`,
  `get_parent_terragrunt_dir()`, `dependency { config_path }` and `dependencies { paths }`.
  Included files are read in turn, with their functions evaluated from the unit's directory,
  as Terragrunt does (`root.hcl` finding each unit's own `env.hcl`).
- Terraform: strings that start with `${path.module}`, `${path.root}` or `${path.cwd}`, and
  the literal arguments of `file()`, `templatefile()`, `fileset()` and their kin.

An interpolation that cannot be evaluated (`${local.env}`) becomes `*` in the path, so the
read is watched as a glob; a read whose path is all unknowns is dropped rather than made to
match the whole repository.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from .unit_reads import UnitReads, repo_path

TERRAGRUNT_FILE = "terragrunt.hcl"
_DEFAULT_PARENTS = ("terragrunt.hcl", "root.hcl")
_FILE_FUNCTIONS = (
    "file",
    "templatefile",
    "filebase64",
    "filemd5",
    "filesha1",
    "filesha256",
    "filesha512",
    "fileexists",
    "read_terragrunt_config",
    "sops_decrypt_file",
    "read_tfvars_file",
)
_CALL_BEFORE = re.compile(r"\b([a-z_][a-z0-9_]*)\(\s*$")
_FILESET_BEFORE = re.compile(r"\bfileset\(\s*(path\.(?:module|root|cwd)|\"[^\"]*\")\s*,\s*$")
_ATTRIBUTE_BEFORE = re.compile(r"\b([a-z_][a-z0-9_]*)\s*=\s*\[?[^=]*$")
_FIND_PARENT = re.compile(r"find_in_parent_folders\(\s*(?:\"([^\"$]*)\"\s*)?[,)]")
_DIRNAME_FIND = re.compile(r"^dirname\(\s*find_in_parent_folders\(\s*(?:\"([^\"$]*)\")?\s*\)\s*\)$")
_FIND = re.compile(r"^find_in_parent_folders\(\s*(?:\"([^\"$]*)\")?\s*\)$")
_GLOB_CHARS = frozenset("*?[")


class RepoFiles(Protocol):
    """Read access to the repository's files, by repo-relative path."""

    def text(self, path: str) -> str | None:
        """The file's text, or None when it is missing or unreadable."""

    def kind(self, path: str) -> Literal["file", "dir"] | None: ...


@dataclass(frozen=True)
class _Literal:
    value: str  # the string's raw content, interpolations kept as `${…}`
    before: str  # up to 80 characters of code before its opening quote


def terragrunt_reads(unit_dir: str, files: RepoFiles) -> UnitReads:
    """The includes, reads and dependencies of the Terragrunt unit in `unit_dir`."""
    reads: set[str] = set()
    depends: set[str] = set()
    scanned: set[str] = set()
    pending = [posixpath.join(unit_dir, TERRAGRUNT_FILE) if unit_dir else TERRAGRUNT_FILE]
    while pending:
        config = pending.pop()
        if config in scanned:
            continue
        scanned.add(config)
        text = files.text(config)
        if text is None:
            continue
        if config.rpartition("/")[0] != unit_dir or not config.endswith(TERRAGRUNT_FILE):
            reads.add(config)
        searched, literals = _scan(text)
        for name in searched:
            found = _find_in_parents(unit_dir, name, files)
            if found is not None:
                reads.add(found)
                if found.endswith(".hcl"):
                    pending.append(found)
        for literal in literals:
            for path in _resolve_terragrunt(literal.value, unit_dir, config, files):
                kind = files.kind(path) if not _is_glob(path) else "glob"
                if kind is None or path == unit_dir:
                    continue
                is_unit = kind == "dir" and files.kind(_join(path, TERRAGRUNT_FILE)) == "file"
                if is_unit and not literal.before.rstrip().endswith(("source =", "source=")):
                    depends.add(path)
                elif kind == "file" and path.endswith(".hcl") and _reads_config(literal):
                    reads.add(path)
                    pending.append(path)
                elif _reads_config(literal) or kind == "dir":
                    reads.add(path)
    return UnitReads.of(unit_dir, reads - {unit_dir}, depends - {unit_dir})


_SOURCE_BEFORE = re.compile(r"\bsource\s*=\s*$")
_LOCAL_REF = re.compile(r"^(?:include\.[A-Za-z0-9_]+\.)?locals?\.([A-Za-z0-9_]+)$")


def terragrunt_copies(unit_dir: str, files: RepoFiles) -> frozenset[str]:
    """The directories Terragrunt copies to run the unit in `unit_dir`, not counting the
    units it depends on: each local `terraform { source }` up to its `//` (the whole source
    directory without one), or the unit's own directory when it has no source (Terragrunt
    copies even that into its cache). A remote source copies nothing from the repository; a
    local one that cannot be read here (`${local.x}//vpc`, with `x` computed) or that leaves
    the repository counts as the whole repository ("")."""
    configs = [_join(unit_dir, TERRAGRUNT_FILE)]
    configs += sorted(p for p in terragrunt_reads(unit_dir, files).reads if p.endswith(".hcl"))
    literals = [
        (config, literal)
        for config in configs
        if (text := files.text(config)) is not None
        for literal in _scan(text)[1]
    ]
    sources = [(c, lit.value) for c, lit in literals if _SOURCE_BEFORE.search(lit.before)]
    if not sources:
        return frozenset({unit_dir})
    # A source built from a local (`${local.base_url}?ref=v1`, the local set in an included
    # file): the local's string literal, when one file assigns it.
    assigned = {
        match[1]: literal.value
        for _, literal in literals
        if (match := re.search(r"\b([A-Za-z0-9_]+)\s*=\s*$", literal.before))
    }
    roots = set()
    for config, value in sources:
        ref = _LOCAL_REF.match(value.strip().removeprefix("${").partition("}")[0].strip())
        if value.startswith("${") and ref and ref[1] in assigned:
            value = assigned[ref[1]] + value.partition("}")[2]
        root = _source_root(value, unit_dir, config, files)
        if root is not None:
            roots.add(root)
    return frozenset(roots)


def _source_root(value: str, unit_dir: str, config: str, files: RepoFiles) -> str | None:
    """The repository directory a `source` copies (None for a remote one); relative paths
    are relative to the unit, wherever the `terraform` block that holds them is."""
    text = value.strip()
    remote = "::" in text or "://" in text or "?" in text  # git::…, tfr:///…, …?ref=v1
    if remote or not text.startswith((".", "/", "${")):
        return None  # downloaded (github.com/… too), not copied from this checkout
    root = text.split("//", 1)[0] or "."
    base = unit_dir
    if root.startswith("${"):
        end = _closing_brace(root, 2)
        known = _evaluate(root[2:end].strip(), unit_dir, config.rpartition("/")[0], files)
        if known is None:
            return ""
        base, root = known, "." + root[end + 1 :]
    if "${" in root:
        return ""
    if root.startswith("/"):
        return None  # absolute: outside the repository, nothing of it is written here
    path = repo_path(_join(base, root))
    return "" if path is None else path


def terraform_reads(module_dir: str, root_dir: str, text: str, files: RepoFiles) -> set[str]:
    """Files and globs one `.tf` file of the module in `module_dir` reads outside itself;
    `root_dir` is the directory Terraform runs in (`path.root`, `path.cwd`)."""
    reads: set[str] = set()
    for literal in _literals(_strip_comments(text)):
        value = literal.value
        fileset = _FILESET_BEFORE.search(literal.before)
        if value.startswith("${path.module}"):
            candidate = _join(module_dir, "." + value.removeprefix("${path.module}"))
        elif value.startswith(("${path.root}", "${path.cwd}")):
            candidate = _join(root_dir, "." + value[len("${path.root}") :])
        elif fileset is not None:
            base = fileset[1]
            base_dir = module_dir if base == "path.module" else root_dir
            if base.startswith('"'):
                base_dir = _join(root_dir, base.strip('"'))
            candidate = _join(base_dir, value)
        elif _call_name(literal) in _FILE_FUNCTIONS and "${" not in value:
            candidate = _join(root_dir, value)  # relative paths are relative to the working dir
        else:
            continue
        path = _as_glob(_wildcards(candidate))
        if path is not None and (_is_glob(path) or files.kind(path) is not None):
            reads.add(path)
    return reads


def _reads_config(literal: _Literal) -> bool:
    """Whether the string is a path Terragrunt reads (rather than, say, a tag value)."""
    if _call_name(literal) in _FILE_FUNCTIONS:
        return True
    attribute = _ATTRIBUTE_BEFORE.search(literal.before)
    return attribute is not None and attribute[1] in ("path", "config_path", "paths", "source")


def _call_name(literal: _Literal) -> str | None:
    call = _CALL_BEFORE.search(literal.before)
    return call[1] if call else None


def _resolve_terragrunt(value: str, unit_dir: str, config: str, files: RepoFiles) -> Iterator[str]:
    """The repo paths a Terragrunt string may name: relative strings against the unit's
    directory and against the directory of the file that holds them."""
    config_dir = config.rpartition("/")[0]
    text = ""
    rest = value
    anchored: str | None = None  # the directory the path is known to start from
    while rest:
        start = rest.find("${")
        if start != 0:
            text += rest if start < 0 else rest[:start]
            rest = "" if start < 0 else rest[start:]
            continue
        end = _closing_brace(rest, 2)
        expression = rest[2:end].strip()
        rest = rest[end + 1 :]
        known = _evaluate(expression, unit_dir, config_dir, files)
        if known is not None and not text:
            anchored = known
        else:
            text += "*"
    if anchored is not None:
        path = _as_glob(_join(anchored, "." + text if text.startswith("/") else text))
        if path is not None:
            yield path
        return
    if not text.startswith(("./", "../")) and "/" not in text and not text.endswith(".hcl"):
        return  # not path-shaped
    if "::" in text or "://" in text or "?" in text or text.startswith("git@"):
        return  # a remote source (git::…, https://…, ?ref=…), not a file here
    if text.startswith("/"):
        return  # absolute: outside the repository
    for base in dict.fromkeys((unit_dir, config_dir)):
        path = _as_glob(_join(base, text))
        if path is not None:
            yield path


def _evaluate(expression: str, unit_dir: str, config_dir: str, files: RepoFiles) -> str | None:
    """The directory a path-valued Terragrunt expression names, when it can be known."""
    if expression == "get_repo_root()":
        return ""
    if expression in ("get_terragrunt_dir()", "get_original_terragrunt_dir()"):
        return unit_dir
    if expression == "get_parent_terragrunt_dir()":
        return config_dir
    match = _DIRNAME_FIND.match(expression)
    if match:
        found = _find_in_parents(unit_dir, match[1], files)
        return found.rpartition("/")[0] if found is not None else None
    match = _FIND.match(expression)
    if match:
        return _find_in_parents(unit_dir, match[1], files)
    return None


def _find_in_parents(unit_dir: str, name: str | None, files: RepoFiles) -> str | None:
    """Terragrunt's `find_in_parent_folders`: the nearest `name` above the unit."""
    names = (name,) if name else _DEFAULT_PARENTS
    directory = unit_dir
    while directory:
        directory = directory.rpartition("/")[0]
        for candidate in names:
            path = _join(directory, candidate)
            if files.kind(path) == "file":
                return path
    return None


def _wildcards(text: str) -> str:
    """`text` with each interpolation it holds replaced by `*`."""
    out = ""
    while (start := text.find("${")) >= 0:
        out += text[:start] + "*"
        text = text[_closing_brace(text, start + 2) + 1 :]
    return out + text


def _join(base: str, path: str) -> str:
    return posixpath.join(base, path) if base else path


def _as_glob(path: str) -> str | None:
    """A normalised repo path, or None outside the repo or when its first segment is unknown
    (a glob that would match everything at the root)."""
    normal = repo_path(path)
    if normal is None or not normal:
        return None
    first = normal.split("/", 1)[0]
    return None if _is_glob(first) else normal


def _is_glob(path: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(path)


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing an interpolation opened before `start` (nested quotes too)."""
    depth = 1
    index = start
    in_string = False
    while index < len(text):
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return len(text)


@functools.lru_cache(maxsize=4096)
def _scan(text: str) -> tuple[tuple[str | None, ...], tuple[_Literal, ...]]:
    """A Terragrunt file's `find_in_parent_folders` arguments and string literals; cached by
    text, since every unit below a shared file (`env.hcl`) reads it again."""
    code = _strip_comments(text)
    return tuple(m[1] for m in _FIND_PARENT.finditer(code)), tuple(_literals(code))


_SPECIAL = re.compile(r'["\\#/$}]')


def _strip_comments(text: str) -> str:
    """`text` with `#`, `//` and `/* */` comments blanked, strings kept.

    The scan jumps between the characters that matter.
    """
    out: list[str] = []
    index = 0
    in_string = False
    depth = 0  # interpolation depth inside a string
    while True:
        match = _SPECIAL.search(text, index)
        if match is None:
            out.append(text[index:])
            return "".join(out)
        at = match.start()
        char = text[at]
        if in_string:
            if char == "\\":
                out.append(text[index : at + 2])
                index = at + 2
                continue
            if char == "$" and text.startswith("${", at):
                depth += 1
            elif char == "}" and depth:
                depth -= 1
            elif char == '"' and not depth:
                in_string = False
            out.append(text[index : at + 1])
            index = at + 1
            continue
        out.append(text[index:at])
        if char == '"':
            in_string = True
        elif char == "#" or text.startswith("//", at):
            end = text.find("\n", at)
            index = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", at):
            end = text.find("*/", at + 2)
            index = len(text) if end < 0 else end + 2
            continue
        out.append(char)
        index = at + 1


def _literals(code: str) -> Iterator[_Literal]:
    """Every top-level string literal in comment-free HCL, with the code before it."""
    index = 0
    while True:
        start = code.find('"', index)
        if start < 0:
            return
        end = start + 1
        while end < len(code) and code[end] != '"':
            if code[end] == "\\":
                end += 1
            elif code.startswith("${", end):
                end = _closing_brace(code, end + 2)
            end += 1
        yield _Literal(code[start + 1 : end], code[max(0, start - 80) : start])
        index = end + 1
