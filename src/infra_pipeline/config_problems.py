"""Everything wrong with an infra.yaml, in the user's words, found in one pass.

`config.parse_config` reports every problem at once (one `ConfigError`, exit 2), so a team
fixing a copied file does not go round the loop once per mistake. A problem names the file,
the line, the key as the user wrote it, what is wrong, and what to do; an unknown key gets
the nearest known one ("did you mean").

Three kinds of problem are found here: keys the YAML repeats (a copy-pasted layer, which a
YAML loader would otherwise silently drop), what pydantic refuses (translated from its terms:
"must be a list", not "Input should be a valid tuple"), and layer paths (outside the
repository, absolute, missing, or the same directory for two layers).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from msgspec import Struct

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


class Problem(Struct, frozen=True):
    """One thing wrong in infra.yaml: where (its line, when known), what, and how to fix it."""

    line: int | None
    key: str  # dotted, as in the file: layers.platform.path
    what: str
    fix: str

    def shown(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line is not None else f"{path}"
        return f"{where}: {self.key}: {self.what}"


def duplicate_keys(node: yaml.Node | None, where: tuple[str, ...] = ()) -> list[Problem]:
    """Keys that appear twice in one mapping, anywhere in the document."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                copied = "layer" if where == ("layers",) else "key"
                problems.append(
                    Problem(
                        line,
                        ".".join((*where, key)),
                        f"`{key}` appears twice (first on line {first_line[key]}); YAML keeps "
                        f"only the last, so the first {copied} would be silently dropped",
                        "rename one of them or delete the copy"
                        + (
                            " (each layer needs its own name, path and order)"
                            if copied == "layer"
                            else ""
                        ),
                    )
                )
            first_line.setdefault(key, line)
            problems += duplicate_keys(value_node, (*where, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += duplicate_keys(item, (*where, str(index)))
    return problems


def unnamed_layers(node: yaml.Node | None) -> list[Problem]:
    """Layers under a key YAML does not read as text (`~:`, `true:`, `[a]:`): named by what
    the user wrote, rather than by the None or True a loader turns it into."""
    layers = _value_at(node, "layers")
    if not isinstance(layers, yaml.MappingNode):
        return []
    return [
        Problem(
            key_node.start_mark.line + 1,
            f"layers.{key_node.value or '(empty)'}",
            f"a layer name must be text, and YAML reads `{key_node.value}` as "
            + ("null" if key_node.tag.endswith(":null") else "true or false"),
            "name the layer with letters, digits, - _ . (quote it if need be)",
        )
        for key_node, _ in layers.value
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith((":null", ":bool"))
    ]


def _value_at(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key and isinstance(value_node, yaml.Node):
                return value_node
    return None


def validation_problems(
    exc: ValidationError, node: yaml.Node | None, fields: FieldsAt, hidden_tags: Iterable[str]
) -> list[Problem]:
    """Every error pydantic found, in the user's words."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    tags = tuple(hidden_tags)
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"] if not str(p).startswith(("function-", "tagged")))
        if len(loc) > 2 and loc[0] == "health" and loc[2] in tags:
            loc = loc[:2] + loc[3:]  # drop the probe-kind tag pydantic adds
        key = ".".join(loc) or "(top level)"
        what, fix = _words(error, loc, fields)
        if (key, what) in seen:
            continue  # a union reports one mistake once per member
        seen.add((key, what))
        problems.append(Problem(line_of(node, loc), key, what, fix))
    return problems


FieldsAt = Mapping[str, Sequence[str]]  # "layers.*" -> the keys a layer accepts, and so on


def _words(error: Any, loc: tuple[str, ...], fields: FieldsAt) -> tuple[str, str]:
    kind = error["type"]
    last = loc[-1] if loc else "(top level)"
    given = error.get("input")
    got = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
    if kind == "extra_forbidden":
        known = fields.get(_pattern(loc[:-1]), ())
        import difflib  # only a file with a problem needs it

        near = difflib.get_close_matches(last, list(known), n=1, cutoff=0.6)
        what = f"unknown key `{last}`" + (f"; did you mean `{near[0]}`?" if near else "")
        fix = (
            f"rename it to `{near[0]}`"
            if near
            else f"remove it; the keys here are {', '.join(known)}"
            if known
            else "remove it or fix its spelling (see `infra config schema`)"
        )
        return what, fix
    if kind == "missing":
        return f"missing required key `{last}`", f"add `{last}:` there"
    context = error.get("ctx") or {}
    plain = {
        "tuple_type": ("must be a list, e.g. [a, b]", "write it as a YAML list"),
        "list_type": ("must be a list, e.g. [a, b]", "write it as a YAML list"),
        "dict_type": ("must be a mapping (key: value lines)", "indent its keys below it"),
        "model_type": ("must be a mapping (key: value lines)", "indent its keys below it"),
        "model_attributes_type": (
            "must be a mapping (key: value lines)",
            "indent its keys below it",
        ),
        "string_type": ("must be text", "quote the value"),
        "int_type": ("must be a whole number", "write a number such as 3"),
        "int_parsing": ("must be a whole number", "write a number such as 3"),
        "int_from_float": ("must be a whole number", "drop the fraction"),
        "float_type": ("must be a number", "write a number such as 2.5"),
        "float_parsing": ("must be a number", "write a number such as 2.5"),
        "bool_type": ("must be true or false", "write true or false"),
        "bool_parsing": ("must be true or false", "write true or false"),
        "too_short": ("must not be empty", "give at least one value"),
    }
    if kind in plain:
        what, fix = plain[kind]
        return what + got, fix
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "more than", "greater_than_equal": "at least"}.get(
            kind, "less than" if kind == "less_than" else "at most"
        )
        limit = next(iter(context.values()), "")
        return f"must be {bound} {limit}{got}", f"use a number {bound} {limit}"
    if kind in ("literal_error", "enum"):
        expected = str(context.get("expected", "")).replace(" or ", ", ")
        return f"must be one of {expected}{got}", "use one of the values listed"
    if kind == "probe_kind":
        return (
            "a probe needs one of the keys http, tcp, dns, kubernetes, command",
            "give the probe one of: http, tcp, dns, kubernetes, command",
        )
    message = str(error.get("msg", kind)).removeprefix("Value error, ")
    return message, "change the value as the message says"


def _pattern(loc: tuple[str, ...]) -> str:
    """The FieldsAt key for a location: names under `layers`, `health`, `e2e` and list
    indexes become `*`."""
    parts = ["*" if part.isdigit() else part for part in loc]
    if len(parts) >= 2 and parts[0] in ("layers", "health", "e2e"):
        parts[1] = "*"
    return ".".join(parts)


def model_fields(model: type[BaseModel], hidden: Iterable[str] = ()) -> list[str]:
    skip = set(hidden)
    return [name for name in model.model_fields if name not in skip]


def line_of(node: yaml.Node | None, loc: tuple[str, ...]) -> int | None:
    """The line of the deepest YAML node along `loc`, or None when it cannot be found."""
    line: int | None = None
    for key in loc:
        if isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in reversed(node.value):  # YAML keeps the last duplicate
            if key_node.value == key:
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return line


def repository_root(config_dir: Path) -> Path:
    """The nearest directory holding `.git` at or above infra.yaml's, else infra.yaml's own."""
    for directory in (config_dir, *config_dir.parents):
        if (directory / ".git").exists():
            return directory
    return config_dir


def path_problems(
    layers: Any, node: yaml.Node | None, config_dir: Path, *, check_paths: bool
) -> list[Problem]:
    """Layer paths that are absolute, leave the repository, are missing, or are shared.

    `check_paths=False` (another commit's config) skips what needs this checkout: that the
    directory exists and where symlinks lead.
    """
    if not isinstance(layers, Mapping):
        return []
    root = repository_root(config_dir)
    problems: list[Problem] = []
    by_dir: dict[str, str] = {}
    for name, body in layers.items():
        raw = body.get("path") if isinstance(body, Mapping) else None
        if not isinstance(raw, str) or not raw.strip():
            continue
        loc = ("layers", str(name), "path")
        line, key = line_of(node, loc), ".".join(loc)
        if raw.startswith(("/", "~", "\\")) or (len(raw) > 1 and raw[1] == ":"):
            problems.append(
                Problem(
                    line,
                    key,
                    f"{raw!r} is an absolute path",
                    "write the layer's directory relative to infra.yaml",
                )
            )
            continue
        if "\0" in raw:  # no file system takes it, and the path calls below would raise
            problems.append(
                Problem(
                    line,
                    key,
                    f"{raw!r} holds a NUL character, which no directory name can",
                    "write the layer's directory relative to infra.yaml, without control "
                    "characters",
                )
            )
            continue
        lexical = Path(os.path.normpath(config_dir / raw))
        target = (config_dir / raw).resolve() if check_paths else lexical
        if not _inside(lexical, root) or not _inside(target, root):
            problems.append(
                Problem(
                    line,
                    key,
                    f"{raw!r} points outside the repository ({root})",
                    "a layer's directory must be inside the repository that holds infra.yaml",
                )
            )
            continue
        if check_paths and not target.is_dir():
            problems.append(
                Problem(
                    line,
                    key,
                    f"directory {raw!r} does not exist",
                    "point `path` at the layer's directory, relative to infra.yaml",
                )
            )
            continue
        shown = target.relative_to(root).as_posix() if _inside(target, root) else str(target)
        # One directory may hold several states: one per Terraform workspace (`env:
        # {TF_WORKSPACE: …}`), as Atlantis projects sharing a `dir` have.
        workspace = _workspace(body)
        other = by_dir.setdefault(f"{target}\0{workspace}", str(name))
        if other != str(name):
            problems.append(
                Problem(
                    line,
                    key,
                    f"layers `{other}` and `{name}` both use directory '{shown or '.'}' "
                    f"and workspace `{workspace}`; two layers on one state would plan and "
                    "apply it twice",
                    f"delete the copy, point `{name}` at its own directory, or give it its "
                    "own workspace (`env: {TF_WORKSPACE: …}`)",
                )
            )
    return problems


def _workspace(body: Mapping[str, Any]) -> str:
    env = body.get("env")
    workspace = env.get("TF_WORKSPACE") if isinstance(env, Mapping) else None
    return str(workspace) if workspace else "default"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    import difflib  # only a file with a problem needs it

    near = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return near[0] if near else None
