"""Rego policies evaluated in-process with regopy (an OPA-compatible engine, no binary), and
the policy files read from where they are kept: a directory on disk (`infra policy test`, a
first adoption) or the default branch's commit (a pull request's job, whose work tree is the
pull request's own copy): from git's object store when the checkout has that commit, else
through the contents API.

What the answers mean is core/policy_check.py's; this module only loads and queries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final

from ..errors import InfraError
from . import git_files
from .github.client import GitHub

SUFFIX: Final = ".rego"
_MAX_FILES: Final = 500  # a policy tree is small; this bounds what a wrong path could walk


class PolicyLoadError(InfraError):
    """The policy files cannot be parsed or found: every layer's check fails with why."""


class RegoPolicies:
    """The modules of one policy set, ready to be queried against many plans."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        # Imported on use: most jobs have no policies. regopy ships no type information.
        from regopy import Interpreter, LogLevel, RegoError  # type: ignore[import-untyped]

        if not modules:
            raise PolicyLoadError(
                "no .rego files were found at the configured `policies.paths`",
                "add the policy files, or remove `policies` from infra.yaml",
            )
        self._error = RegoError
        self._rego = Interpreter()
        self._rego.log_level = LogLevel.NONE  # it would print its errors on stdout; we raise
        try:
            for name, text in sorted(modules.items()):
                self._rego.add_module(name, text)
        except RegoError as exc:
            raise PolicyLoadError(_described(exc, modules), "fix the policy file") from exc

    def evaluate(self, document: Mapping[str, Any], namespaces: Sequence[str]) -> list[Any]:
        """The value of `data.<namespace>` for each namespace, with `document` (a plan in
        `terraform show -json` shape) as `input`; None for a namespace no module declares."""
        try:
            self._rego.set_input_term(json.dumps(document))
            answers: list[Any] = []
            for namespace in namespaces:
                output = str(self._rego.query(f"data.{namespace}"))
                if output == "undefined":
                    answers.append(None)
                    continue
                expressions = json.loads(output).get("expressions") or [None]
                answers.append(expressions[0])
        except self._error as exc:
            raise PolicyLoadError(_described(exc, {}), "fix the policy") from exc
        except ValueError as exc:  # regopy printed something that is not its JSON answer
            raise PolicyLoadError(f"regopy's answer is not JSON: {exc}", "report this") from exc
        return answers


# regopy's errors: `(error 8:bad.rego|34|2 (errormsg 16:this is unclosed) ...)`, where 34 is
# the byte offset of the mistake in that module.
_ERROR: Final = re.compile(r"\(error \d+:([^|\s]*)\|(\d+)\|\d+\s*\(errormsg \d+:([^)\n]*)\)")


def _described(exc: Exception, modules: Mapping[str, str]) -> str:
    """regopy's first error as `file:line: message`."""
    found = _ERROR.search(str(exc))
    if found is None:
        lines = str(exc).strip().splitlines()
        return f"the Rego engine failed: {lines[0] if lines else type(exc).__name__}"
    name, offset, message = found.group(1), int(found.group(2)), found.group(3).strip()
    text = modules.get(name)
    if text is None:
        return f"{name}: {message}" if name else message
    line = text.encode()[:offset].count(b"\n") + 1
    return f"{name}:{line}: {message}"


def local_modules(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """The `.rego` files at `paths` (directories, walked, or files), relative to `root`; names
    are the paths as given, for error messages."""
    modules: dict[str, str] = {}
    for entry in paths:
        path = (root / entry).resolve()
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file())
        else:
            raise PolicyLoadError(
                f"policy path {entry!r} does not exist under {root}",
                "create it, or fix `policies.paths` (or --policy)",
            )
        for file in files[:_MAX_FILES]:
            name = file.relative_to(root).as_posix() if file.is_relative_to(root) else str(file)
            try:
                modules[name] = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyLoadError(f"cannot read {file}: {exc}", "check the file") from exc
    return modules


def committed_modules(
    top: Path, commit: str, prefix: str, paths: Sequence[str], ref: str
) -> dict[str, str] | None:
    """The `.rego` files at `paths` in `commit` (the tip of branch `ref` the checkout at `top`
    has), read from git's object store: what `remote_modules` reads at `ref`, by the same
    names, without a request per file. None when the checkout cannot answer (a shallow clone
    without the commit): ask GitHub then."""
    starts = [_start(prefix, entry) for entry in paths]
    found = git_files.files_under(top, commit, starts)
    if found is None:
        return None
    modules: dict[str, str] = {}
    for entry, start in zip(paths, starts, strict=True):
        below = [
            name
            for name in sorted(found)
            if name == start or (name.endswith(SUFFIX) and _inside(name, start))
        ]
        if not below:
            raise _missing(entry, ref)
        for name in below[: _MAX_FILES - len(modules)]:
            modules[name] = found[name]
    return modules


def remote_modules(github: GitHub, prefix: str, paths: Sequence[str], ref: str) -> dict[str, str]:
    """The `.rego` files at `paths` in commit or branch `ref`. `prefix` is where infra.yaml
    sits in the repository ("" at its root): the paths are relative to it."""
    modules: dict[str, str] = {}
    for entry in paths:
        pending = [_start(prefix, entry)]
        found_any = False
        while pending and len(modules) < _MAX_FILES:
            path = pending.pop()
            listing = github.list_directory(path, ref)
            if listing is None:
                text = github.get_file(path, ref)
                if text is None:
                    break
                found_any = True
                modules[path] = text
                continue
            found_any = True
            for name, is_dir in listing:
                if is_dir:
                    pending.append(name)
                elif name.endswith(SUFFIX):
                    text = github.get_file(name, ref)
                    if text is not None:
                        modules[name] = text
        if not found_any:
            raise _missing(entry, ref)
    return modules


def _inside(name: str, directory: str) -> bool:
    return directory in ("", ".") or name.startswith(directory + "/")


def _start(prefix: str, entry: str) -> str:
    """A `policies.paths` entry as a repository path (`prefix`: where infra.yaml sits)."""
    return str(PurePosixPath(prefix, entry.strip("/"))).strip("/").removeprefix("./")


def _missing(entry: str, ref: str) -> PolicyLoadError:
    return PolicyLoadError(
        f"policy path {entry!r} does not exist on {ref}, where the policies are read from",
        f"merge the policy files into {ref} first, or fix `policies.paths` there",
    )
