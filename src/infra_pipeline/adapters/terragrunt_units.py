"""What Terragrunt itself reports about a repository's units: includes, reads, dependencies;
where it runs a unit, and the state backend a unit declares.

`terragrunt find --json --include --reading --dependencies` parses every unit as a run would:
it follows `include` blocks, evaluates `find_in_parent_folders`, `read_terragrunt_config`,
`read_tfvars_file`, `sops_decrypt_file` and `mark_as_read`, walks local `terraform { source }`
modules, and resolves `dependency` paths. One call covers the whole repository, and the answer
is the same `UnitReads` record the HCL reading produces when the binary is absent.

Terragrunt does not report files read by plain HCL functions such as `file()` or
`templatefile()` (wrap them in `mark_as_read()` for it to), nor Terraform `module` blocks in the
unit's own `.tf` files; change detection keeps reading those itself.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from ..core.backend_block import rendered_backend as backend_of_render
from ..core.unit_reads import UnitIndex, UnitReads, repo_path
from ..errors import InfraError
from . import process
from .repo_files import DiskFiles

Runner = Callable[..., process.ProcessResult]
FIND_ARGS = ("find", "--json", "--include", "--reading", "--dependencies", "--no-color")


def read_find_output(text: str) -> dict[str, UnitReads]:
    """`terragrunt find --json ...` output (paths relative to the repository root) as records,
    by unit directory. Paths Terragrunt prints absolute lie outside the repository and are
    dropped."""
    try:
        found = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise InfraError(
            f"`terragrunt find --json` printed something other than JSON: {exc}",
            "run `terragrunt find --json` in the repository to see what it says",
        ) from exc
    units: dict[str, UnitReads] = {}
    for entry in found if isinstance(found, list) else []:
        if not isinstance(entry, Mapping) or entry.get("type") != "unit":
            continue  # stacks generate units; only units plan
        directory = repo_path(str(entry.get("path", "")))
        if directory is None:
            continue
        includes = entry.get("include") or {}
        reads = [*includes.values(), *(entry.get("reading") or [])]
        record = UnitReads.of(directory, reads, entry.get("dependencies") or [])
        # A unit Terragrunt could not parse is listed too, reading nothing (find still exits
        # 0): leave every unit without a report to the HCL reading, which loses nothing.
        if record.reads or record.depends_on:
            units[record.dir] = record
    return units


def terragrunt_units(
    repo_root: Path,
    env: Mapping[str, str],
    *,
    runner: Runner = process.run,
    timeout: float = 300,
) -> UnitIndex | None:
    """Every unit under `repo_root` as Terragrunt reports it, or None when `terragrunt` is
    not installed (the caller then reads the HCL itself).

    A repository whose configuration Terragrunt cannot parse is an InfraError naming the unit,
    as a plan of it would be."""
    binary = shutil.which("terragrunt", path=env.get("PATH", os.defpath))
    if binary is None:
        return None
    result = runner(
        [binary, *FIND_ARGS, "--working-dir", str(repo_root)],
        cwd=repo_root,
        env={**env, "TG_NON_INTERACTIVE": "true", "TG_LOG_LEVEL": "error"},
        timeout=timeout,
    )
    if result.returncode != 0 or result.timed_out or result.cancelled:
        raise InfraError(
            f"Terragrunt could not list the repository's units: {result.describe()}\n"
            + "\n".join(result.stderr.strip().splitlines()[-10:]),
            "fix the configuration it names (`terragrunt find --json` shows the same error)",
        )
    return read_find_output(result.stdout)


def unit_index(
    repo_root: Path, unit_dirs: list[str], env: Mapping[str, str], *, runner: Runner = process.run
) -> UnitIndex:
    """Every unit Terragrunt reports, else (no binary) the HCL reading of `unit_dirs`."""
    reported = terragrunt_units(repo_root, env, runner=runner)
    if reported is not None:
        return reported
    # The HCL reading's patterns are compiled on import: only Terragrunt repositories pay.
    from ..core.hcl_reads import terragrunt_reads

    files = DiskFiles(repo_root)
    return {d: terragrunt_reads(d, files) for d in unit_dirs}


# -- where a unit runs, and the backend it declares ---------------------------------------------

# Terragrunt writes this file into the directory it runs Terraform in when it copies a unit
# with a `terraform { source }` into its download directory.
MODULE_MANIFEST = ".terragrunt-module-manifest"
_MANIFEST_DEPTH = 8  # below `<download dir>/<unit>/<source>`: the source's `//` sub-path


def working_dir(unit_dir: Path, download_dir: Path) -> Path | None:
    """The directory Terragrunt runs Terraform in for the unit at `unit_dir` when the unit has
    a `terraform { source }`: `<download dir>/<sha1 of the unit's path>/<sha1 of the source>/
    <the source's sub-path>`, where Terragrunt generates the backend block and `init` records
    its settings. None before Terragrunt first ran there (or for a unit without a source,
    which runs in `unit_dir` itself)."""
    for unit in dict.fromkeys((unit_dir.resolve(), unit_dir.absolute())):
        top = download_dir / _encoded_path(unit)
        if top.is_dir():
            found = _manifest_dir(top)
            if found is not None:
                return found
    return None


def _encoded_path(path: Path) -> str:
    # Terragrunt's util.EncodeBase64Sha1 of the unit's canonical path (tf/source.go).
    digest = hashlib.sha1(path.as_posix().encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _manifest_dir(top: Path) -> Path | None:
    """The shallowest directory under `top` holding Terragrunt's module manifest (the copied
    sources' own `.terraform` directories are not searched)."""
    level = [top]
    for _ in range(_MANIFEST_DEPTH):
        below: list[Path] = []
        for directory in level:
            if (directory / MODULE_MANIFEST).is_file():
                return directory
            with contextlib.suppress(OSError):
                below += sorted(
                    entry
                    for entry in directory.iterdir()
                    if entry.is_dir() and not entry.is_symlink() and entry.name != ".terraform"
                )
        level = below
    return None


def rendered_backend(
    unit_dir: Path, env: Mapping[str, str], *, runner: Runner = process.run, timeout: float = 120
) -> tuple[str, dict[str, str]] | None:
    """The backend the unit declares as Terragrunt evaluates it (`terragrunt render --json`:
    its `remote_state`, or a `generate` block holding a backend block), for a unit Terragrunt
    has not run in this checkout yet. None without the binary or when the unit declares none.

    Rendering fetches the outputs of the unit's `dependency` blocks as a plan would, into the
    download directory `env` names."""
    binary = shutil.which("terragrunt", path=env.get("PATH", os.defpath))
    if binary is None:
        return None
    result = runner(
        [binary, "render", "--json", "--no-color"],
        cwd=unit_dir,
        env={**env, "TG_NON_INTERACTIVE": "true", "TG_LOG_LEVEL": "error"},
        timeout=timeout,
    )
    if result.returncode != 0 or result.timed_out or result.cancelled:
        return None  # the plan that needs this unit reports Terragrunt's error itself
    return backend_of_render(result.stdout)
