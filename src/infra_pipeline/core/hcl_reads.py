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
from collections.abc import Iterator, Mapping
from typing import Literal, Protocol

from msgspec import Struct

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
    "mark_as_read",  # Terragrunt's way to name a file it cannot see read (`file(mark_as_read(…))`)
)
_CALL_BEFORE = re.compile(r"\b([a-z_][a-z0-9_]*)\(\s*$")
_FILESET_BEFORE = re.compile(r"\bfileset\(\s*(path\.(?:module|root|cwd)|\"[^\"]*\")\s*,\s*$")
_ATTRIBUTE_BEFORE = re.compile(r"\b([a-z_][a-z0-9_]*)\s*=\s*\[?[^=]*$")
_FIND_PARENT = re.compile(r"find_in_parent_folders\(\s*(?:\"([^\"$]*)\"\s*)?[,)]")
_GLOB_CHARS = frozenset("*?[")


class RepoFiles(Protocol):
    """Read access to the repository's files, by repo-relative path."""

    def text(self, path: str) -> str | None:
        """The file's text, or None when it is missing or unreadable."""

    def kind(self, path: str) -> Literal["file", "dir"] | None: ...


class _Literal(Struct, frozen=True):
    value: str  # the string's raw content, interpolations kept as `${…}`
    before: str  # up to 80 characters of code before its opening quote


def terragrunt_reads(unit_dir: str, files: RepoFiles) -> UnitReads:
    """The includes, reads and dependencies of the Terragrunt unit in `unit_dir`."""
    reads: set[str] = set()
    depends: set[str] = set()
    scanned: set[str] = set()
    unit_file = _join(unit_dir, TERRAGRUNT_FILE)
    pending = [unit_file]
    unit_text = files.text(unit_file)
    includes = _unit_includes(unit_dir, unit_text, files) if unit_text is not None else {}
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
        scope = _scope(unit_dir, config, text, files, includes)
        searched, literals = _scan(text)
        for name in searched:
            found = _find_in_parents(unit_dir, name, files)
            if found is not None and files.kind(found) == "file":
                reads.add(found)
                if found.endswith(".hcl"):
                    pending.append(found)
        for literal in (*literals, *_bare_paths(text, scope), *_var_files(text)):
            for path in _resolve_terragrunt(literal.value, scope):
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


class _Scope(Struct, frozen=True):
    """What a Terragrunt expression in one file can be evaluated against."""

    unit_dir: str
    config_dir: str  # the directory of the file the expression is in
    parent_dir: str  # get_parent_terragrunt_dir(): the included file's directory
    locals: dict[str, str]  # this file's `locals`, as expression texts
    files: RepoFiles
    includes: Mapping[str, str]  # the unit's include labels → the included files' directories


def _scope(
    unit_dir: str, config: str, text: str, files: RepoFiles, includes: Mapping[str, str]
) -> _Scope:
    """`includes` maps the unit's include labels ("" when it has none) to the directories of
    the files they include: get_parent_terragrunt_dir() in the unit's own file is the first
    of them, and in an included file that file's own directory."""
    config_dir = config.rpartition("/")[0]
    own = config_dir == unit_dir and config.endswith(TERRAGRUNT_FILE)
    parent_dir = next(iter(includes.values()), unit_dir) if own else config_dir
    return _Scope(unit_dir, config_dir, parent_dir, _locals(_strip_comments(text)), files, includes)


def _unit_includes(unit_dir: str, text: str, files: RepoFiles) -> dict[str, str]:
    """The unit's include labels and the directories of the files they include."""
    code = _strip_comments(text)
    scope = _Scope(unit_dir, unit_dir, unit_dir, _locals(code), files, {})
    found: dict[str, str] = {}
    for match in _INCLUDE_PATH.finditer(code):
        value = _value(match[2], scope)
        if value is None:
            continue
        path = _from_root(value) if value.startswith("/") else repo_path(_join(unit_dir, value))
        if path is not None:
            found.setdefault(match[1] or "", path.rpartition("/")[0])
    return found


_INCLUDE_PATH = re.compile(r"\binclude\b\s*(?:\"([^\"]*)\")?\s*\{[^}]*?\bpath\s*=\s*([^\n]+)")
_LOCALS_BLOCK = re.compile(r"(?:^|\n)\s*locals\s*\{")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)[ \t]*=(?!=)[ \t]*")
_BARE_PATH = re.compile(r"\b(config_path|path|source)[ \t]*=[ \t]*(?=[A-Za-z])")
_BARE_PATHS = re.compile(r"\bpaths[ \t]*=[ \t]*\[")


def _locals(code: str) -> dict[str, str]:
    """Each `locals { name = expression }` of a comment-free file, as expression text."""
    found: dict[str, str] = {}
    for block in _LOCALS_BLOCK.finditer(code):
        index, end = block.end(), _matching(code, block.end() - 1)
        while True:
            while index < end and code[index] in " \t\r\n,":
                index += 1
            match = _ASSIGNMENT.match(code, index)
            if match is None or match.end() >= end:
                break
            stop = _expression_end(code, match.end(), end)
            found.setdefault(match[1], code[match.end() : stop].strip())
            index = stop
    return found


def _bare_paths(text: str, scope: _Scope) -> Iterator[_Literal]:
    """`config_path = local.x`, `path = find_in_parent_folders("y")` and the items of
    `paths = [local.a, …]` that are expressions rather than strings, as the string they
    evaluate to."""
    code = _strip_comments(text)
    expressions: list[tuple[str, str]] = []
    for match in _BARE_PATH.finditer(code):
        stop = _expression_end(code, match.end(), len(code))
        expressions.append((match[1], code[match.end() : stop]))
    for match in _BARE_PATHS.finditer(code):
        index, end = match.end(), _matching(code, match.end() - 1)
        while index < end:
            stop = _expression_end(code, index, end, separators=",")
            expressions.append(("paths", code[index:stop]))
            index = stop + 1
    for attribute, expression in expressions:
        expression = expression.strip()
        if not expression or expression.startswith('"'):
            continue  # a string: read with the literals
        value = _value(expression, scope)
        if value is not None:
            yield _Literal(_as_literal(value), f"{attribute} = ")


_VAR_FILE_LISTS = re.compile(r"\b(?:required|optional)_var_files[ \t]*=[ \t]*\[")
_VAR_FILE_ARGUMENT = re.compile(r"^-var-file[= ]")


def _var_files(text: str) -> Iterator[_Literal]:
    """The `.tfvars` files a `terraform { extra_arguments { … } }` block passes to Terraform:
    `required_var_files`, `optional_var_files` and `-var-file=` arguments."""
    code = _strip_comments(text)
    for match in _VAR_FILE_LISTS.finditer(code):
        body = code[match.end() : _matching(code, match.end() - 1)]
        for literal in _literals(body):
            yield _Literal(literal.value, "path = ")
    for literal in _literals(code):
        if _VAR_FILE_ARGUMENT.match(literal.value):
            yield _Literal(literal.value[len("-var-file=") :].strip(), "path = ")


def _as_literal(value: str) -> str:
    """An evaluated value as a string literal the resolver reads: anchored ones at the root."""
    return "${get_repo_root()}" + value if value.startswith("/") else value


def _expression_end(code: str, start: int, limit: int, separators: str = "") -> int:
    """Where the expression starting at `start` ends: the end of its line (or a separator)
    outside any brackets or strings."""
    depth = 0
    index = start
    while index < limit:
        char = code[index]
        if char == '"':
            index = _string_end(code, index)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index
            depth -= 1
        elif depth == 0 and (char == "\n" or char in separators):
            return index
        index += 1
    return limit


def _string_end(code: str, start: int) -> int:
    """The index just past the string literal opening at `start`."""
    end = start + 1
    while end < len(code) and code[end] != '"':
        if code[end] == "\\":
            end += 1
        elif code.startswith("${", end):
            end = _closing_brace(code, end + 2)
        end += 1
    return end + 1


def _matching(code: str, start: int) -> int:
    """The index of the bracket closing the one at `start` (the end of `code` if none)."""
    depth = 0
    index = start
    while index < len(code):
        char = code[index]
        if char == '"':
            index = _string_end(code, index)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return len(code)


_SOURCE_BEFORE = re.compile(r"\bsource\s*=\s*$")
_LOCAL_REF = re.compile(r"^(?:include\.[A-Za-z0-9_]+\.)?locals?\.([A-Za-z0-9_]+)$")


def terragrunt_copies(unit_dir: str, files: RepoFiles) -> frozenset[str]:
    """The directories Terragrunt copies to run the unit in `unit_dir`, not counting the
    units it depends on: the unit's own directory, always (Terragrunt lays its files over the
    source's copy in its cache, even with a remote source or none), and each local
    `terraform { source }` up to its `//` (the whole source directory without one). A remote
    source copies nothing more from the repository; a local one that cannot be read here
    (`${local.x}//vpc`, with `x` computed) or that leaves the repository counts as the whole
    repository ("")."""
    roots = (_source_root(value, unit_dir, scope) for scope, value in _sources(unit_dir, files))
    return frozenset({unit_dir, *(root for root in roots if root is not None)})


def terragrunt_code_dir(unit_dir: str, files: RepoFiles) -> str | None:
    """The repository directory whose copy Terraform runs in for the unit in `unit_dir`, when
    its `terraform { source }` is local and readable here (`../modules//platform` →
    `modules/platform`): where the files Terraform names in its errors are. None for a unit
    without a source (Terraform then runs in the unit's own copy) or with a remote one."""
    for scope, value in _sources(unit_dir, files)[:1]:  # the unit's own file comes first
        root = _local_root(value, unit_dir, scope)
        subdir = value.split("?", 1)[0].split("//", 1)[1] if "//" in value else ""
        if root is None or root == _UNTOLD or "${" in subdir:
            return None
        return repo_path(_join(root, subdir.strip("/") or "."))
    return None


def _sources(unit_dir: str, files: RepoFiles) -> list[tuple[_Scope, str]]:
    """Each `terraform { source }` of the unit and the files it includes, with the scope of
    the file that holds it; the unit's own terragrunt.hcl first."""
    configs = [_join(unit_dir, TERRAGRUNT_FILE)]
    configs += sorted(p for p in terragrunt_reads(unit_dir, files).reads if p.endswith(".hcl"))
    texts = {config: text for config in configs if (text := files.text(config)) is not None}
    unit_text = texts.get(configs[0])
    includes = _unit_includes(unit_dir, unit_text, files) if unit_text is not None else {}
    scopes = {c: _scope(unit_dir, c, text, files, includes) for c, text in texts.items()}
    literals = [
        (config, literal)
        for config, text in texts.items()
        for literal in (*_scan(text)[1], *_bare_paths(text, scopes[config]))
    ]
    sources = [(c, lit.value) for c, lit in literals if _SOURCE_BEFORE.search(lit.before)]
    # A source built from a local (`${local.base_url}?ref=v1`, the local set in an included
    # file): the local's string literal, when one file assigns it.
    assigned = {
        match[1]: literal.value
        for _, literal in literals
        if (match := re.search(r"\b([A-Za-z0-9_]+)\s*=\s*$", literal.before))
    }
    found = []
    for config, value in sources:
        ref = _LOCAL_REF.match(value.strip().removeprefix("${").partition("}")[0].strip())
        if value.startswith("${") and ref and ref[1] in assigned:
            value = assigned[ref[1]] + value.partition("}")[2]
        found.append((scopes[config], value))
    return found


def _source_root(value: str, unit_dir: str, scope: _Scope) -> str | None:
    """The repository directory a `source` copies (None for a remote one; the whole
    repository, "", for one that cannot be told here); relative paths are relative to the
    unit, wherever the `terraform` block that holds them is."""
    root = _local_root(value, unit_dir, scope)
    return "" if root == _UNTOLD else root


_UNTOLD = "\0"  # a local source whose directory this reading cannot tell


def _local_root(value: str, unit_dir: str, scope: _Scope) -> str | None:
    text = value.strip()
    remote = "::" in text or "://" in text or "?" in text  # git::…, tfr:///…, …?ref=v1
    if remote or not text.startswith((".", "/", "${")):
        return None  # downloaded (github.com/… too), not copied from this checkout
    root = text.split("//", 1)[0] or "."
    base = unit_dir
    if root.startswith("${"):
        end = _closing_brace(root, 2)
        known = _evaluate(root[2:end].strip(), scope)
        if known is None:
            return _UNTOLD
        base, root = known, "." + root[end + 1 :]
    if "${" in root:
        return _UNTOLD
    if root.startswith("/"):
        return None  # absolute: outside the repository, nothing of it is written here
    path = repo_path(_join(base, root))
    return _UNTOLD if path is None else path


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


def _resolve_terragrunt(value: str, scope: _Scope) -> Iterator[str]:
    """The repo paths a Terragrunt string may name: relative strings against the unit's
    directory and against the directory of the file that holds them; what cannot be known
    (`${local.env}` with `env` computed) is `*`, so the read is watched as a glob."""
    text = _template(value, scope, unknown="*")
    if text is None:
        return
    if text.startswith("/"):
        path = _as_glob(text[1:])
        if path is not None:
            yield path
        return
    if not text.startswith(("./", "../")) and "/" not in text and not text.endswith(".hcl"):
        return  # not path-shaped
    if "::" in text or "://" in text or "?" in text or text.startswith("git@"):
        return  # a remote source (git::…, https://…, ?ref=…), not a file here
    for base in dict.fromkeys((scope.unit_dir, scope.config_dir)):
        path = _as_glob(_join(base, text))
        if path is not None:
            yield path


def _evaluate(expression: str, scope: _Scope) -> str | None:
    """The repo path a path-valued Terragrunt expression names, when it can be known."""
    value = _value(expression, scope)
    return _from_root(value) if value is not None else None


def _from_root(value: str) -> str | None:
    """An anchored value ("/a/b": from the repository root) as a repo path; None otherwise."""
    return repo_path(value[1:] or ".") if value.startswith("/") else None


_DIR_FUNCTIONS = (
    "get_repo_root()",
    "get_terragrunt_dir()",
    "get_original_terragrunt_dir()",
    "get_parent_terragrunt_dir()",
)
_CALL = re.compile(r"^(dirname|basename|find_in_parent_folders)\((.*)\)$", re.DOTALL)
_RELATIVE_TO_INCLUDE = re.compile(r'^path_relative_to_include\(\s*(?:"([^"]*)")?\s*\)$')
_LOCAL = re.compile(r"^local\.([A-Za-z_][A-Za-z0-9_-]*)$")


def _value(expression: str, scope: _Scope, depth: int = 0) -> str | None:
    """What a Terragrunt expression evaluates to, for the few functions paths are built
    with, or None. A path from the repository root starts with "/" ("/" is the root)."""
    text = expression.strip()
    if depth > 8:
        return None  # locals that refer to each other in a loop
    if text in _DIR_FUNCTIONS:
        if text == "get_repo_root()":
            return "/"
        return "/" + (scope.parent_dir if text == "get_parent_terragrunt_dir()" else scope.unit_dir)
    if text.startswith('"') and _string_end(text, 0) == len(text):
        return _template(text[1:-1], scope, depth=depth + 1)
    if (local := _LOCAL.match(text)) is not None:
        known = scope.locals.get(local[1])
        return None if known is None else _value(known, scope, depth + 1)
    relative = _RELATIVE_TO_INCLUDE.match(text)
    if relative is not None:
        label = relative[1] or ""
        base = scope.includes.get(label) if label else next(iter(scope.includes.values()), None)
        return None if base is None else posixpath.relpath(scope.unit_dir or ".", base or ".")
    call = _CALL.match(text)
    if call is None:
        return None
    if call[1] == "find_in_parent_folders":
        argument = call[2].split(",")[0].strip()
        name = _value(argument, scope, depth + 1) if argument else None
        if argument and (name is None or "/" in name):
            return None
        found = _find_in_parents(scope.unit_dir, name, scope.files)
        return None if found is None else "/" + found
    inner = _value(call[2], scope, depth + 1)
    if inner is None:
        return None
    inner = _normal(inner)
    if call[1] == "basename":
        return posixpath.basename(inner)
    return None if inner == "/" or "/" not in inner else posixpath.dirname(inner)


def _template(text: str, scope: _Scope, unknown: str | None = None, depth: int = 0) -> str | None:
    """A string's value with its interpolations evaluated: each unknown one becomes
    `unknown`, or the whole is None when `unknown` is None."""
    out = ""
    rest = text
    while (start := rest.find("${")) >= 0:
        end = _closing_brace(rest, start + 2)
        value = _value(rest[start + 2 : end], scope, depth)
        if value is None or (value.startswith("/") and (out or start)):
            if unknown is None:
                return None
            value = unknown  # a root-anchored value mid-string is not a path we can use
        out += rest[:start] + value
        rest = rest[end + 1 :]
    out += rest
    return _normal(out) if out.startswith("/") else out


def _normal(value: str) -> str:
    """An anchored value with `//` and `..` folded ("/" + "/x" is "/x")."""
    if not value.startswith("/"):
        return value
    return "/" + posixpath.normpath("/" + value.lstrip("/")).lstrip("/")


def _find_in_parents(unit_dir: str, name: str | None, files: RepoFiles) -> str | None:
    """Terragrunt's `find_in_parent_folders`: the nearest `name` above the unit."""
    names = (name,) if name else _DEFAULT_PARENTS
    directory = unit_dir
    while directory:
        directory = directory.rpartition("/")[0]
        for candidate in names:
            path = _join(directory, candidate)
            kind = files.kind(path)
            if kind == "file" or (name and kind == "dir"):  # `find_in_parent_folders("env")`
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
    # `*/*` would match everything; `*.tfvars` (a name computed from `get_env`) is a read.
    return None if all(set(part) <= set("*?") for part in normal.split("/")) else normal


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
