"""What one unit (a Terraform root module or a Terragrunt unit) reads from its repository.

Change detection and `infra init` need the same three facts about a unit: its directory, the
files and directories it reads besides its own (a Terragrunt `include`, `read_terragrunt_config`,
a `file()` or `templatefile()` argument, a local module), and the units it depends on (a
Terragrunt `dependency`). Two producers fill the record: the real `terragrunt` binary when it
is installed (it evaluates every HCL function itself), and the HCL reading in
`core/terragrunt_reads.py` when it is not. Consumers never know which one answered.

Every path is POSIX and relative to the repository root; "" is the root itself.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from msgspec import Struct


class UnitReads(Struct, frozen=True):
    """One unit's reads and dependencies, repo-relative.

    `reads` holds files, directories (everything below them counts) and globs (a path with
    `*`, `?` or `[`, for a read whose name is only known at run time, such as
    `env/${var.env}.yaml` read as `env/*.yaml`). `depends_on` holds the directories of the
    units whose outputs this one reads; they order applies and do not make a change touch.
    """

    dir: str
    reads: frozenset[str] = frozenset()
    depends_on: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, directory: str, reads: Iterable[str] = (), depends_on: Iterable[str] = ()
    ) -> UnitReads:
        """A record with every path normalised; paths outside the repository are dropped."""
        return cls(
            repo_path(directory) or "",
            frozenset(p for p in map(repo_path, reads) if p is not None),
            frozenset(p for p in map(repo_path, depends_on) if p is not None),
        )


UnitIndex = Mapping[str, UnitReads]  # unit directory -> its record


def is_under(path: str, directory: str) -> bool:
    """Whether repo-relative `path` is `directory` or below it ("" is the root: everything)."""
    return not directory or path == directory or path.startswith(directory.rstrip("/") + "/")


def repo_path(path: str) -> str | None:
    """`path` as a normalised repo-relative POSIX path ("" for the root), or None when it
    leaves the repository or is absolute."""
    norm = posixpath.normpath(path.strip().replace("\\", "/"))
    if norm == ".":
        return ""
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        return None
    return norm


def apart(
    dirs: Mapping[str, str], copies: Mapping[str, Iterable[str]]
) -> dict[str, frozenset[str]]:
    """Which layers must never run at the same time: name → the layers it must not run beside.

    `dirs` maps each layer to its directory; `copies` maps a layer to the directories its
    engine copies on every run (a Terragrunt unit's source trees, and those of the units it
    reads outputs from). Terragrunt lists a tree, then opens each file, and fails on one that
    vanished in between ("open …/terraform.tfstate: no such file or directory"), while every
    engine run creates and removes files in its own directory: OpenTofu's local backend
    creates `terraform.tfstate` to lock it and removes it again when the plan wrote nothing.
    So a layer whose directory lies in a tree another layer copies runs before or after it.
    """
    pairs: dict[str, set[str]] = {name: set() for name in dirs}
    for name, trees in copies.items():
        for tree in trees:
            for other, directory in dirs.items():
                if other != name and is_under(directory, tree):
                    pairs.setdefault(name, set()).add(other)
                    pairs[other].add(name)
    return {name: frozenset(others) for name, others in pairs.items() if others}
