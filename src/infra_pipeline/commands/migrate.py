"""`infra migrate atlantis [PATH]`: infra.yaml from atlantis.yaml, and what to delete after."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import yaml
from msgspec import Struct
from msgspec.structs import replace
from rich.console import Console
from rich.markdown import Markdown

from ..adapters.repo_files import DiskFiles
from ..config import CONFIG_NAME, parse_config
from ..core.hcl_reads import terragrunt_reads
from ..errors import ExitCode, InfraError
from ..onboarding.atlantis import PROJECT_FILES, Found, Migration, ServerConfig, translate
from ..onboarding.atlantis_server import server_config as parse_server_config
from ..onboarding.discovery import TERRAGRUNT_FILE, discover
from ..onboarding.scaffold import LayerDraft, render_config, shown, workflow_files, write_new_files

ATLANTIS_FILES = ("atlantis.yaml", "atlantis.yml")
_SCANNED = (".yaml", ".yml", ".tf", ".hcl", ".json")
_MAX_BYTES = 512 * 1024  # manifests are small; skip anything bigger
_IMAGE = re.compile(r"runatlantis/atlantis")
_HELM = re.compile(r"runatlantis\.github\.io|chart\s*[:=]\s*[\"']?(runatlantis/)?atlantis[\"'\s]")
_STATEFULSET = re.compile(r"^kind:\s*StatefulSet\b", re.MULTILINE)
_NAMED_ATLANTIS = re.compile(r"^\s+name:\s*[\"']?atlantis[\"']?\s*$", re.MULTILINE)
_SERVER_CONFIG = re.compile(r"^repos:\s*$", re.MULTILINE)
# A workflow step that runs Atlantis: its action, its image, or its binary as a command.
_RUNS_ATLANTIS = re.compile(
    r"^\s*-?\s*uses:\s*[\"']?runatlantis/"
    r"|runatlantis/atlantis"
    r"|(?:^|run:|[;&|(]|\bexec)\s*atlantis\s+(?:server|plan|apply|unlock|version|testdrive)\b"
    r"|[\"']atlantis\s+(?:plan|apply|unlock)\b",  # a comment that drives it
    re.MULTILINE,
)
# A resource or module block, from its header at column 0 to its closing brace.
_BLOCK = re.compile(r'^(?:resource|module)\s+"[^"]*"(?:\s+"[^"]*")?\s*\{.*?^\}', re.M | re.S)
_MODULE_SOURCE = re.compile(r'^\s*source\s*=\s*"[^"]*atlantis[^"]*"', re.MULTILINE)


class _AtlantisLoader(yaml.SafeLoader):
    """YAML as Atlantis reads atlantis.yaml into strings: `dir: 2026-06-26` stays a path."""


_AtlantisLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _project_dirs(root: Path) -> list[str]:
    """Every directory Atlantis counts as a project when a glob dir matches it."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        if any(fnmatch.fnmatchcase(name, p) for name in files for p in PROJECT_FILES):
            found.append(Path(directory).relative_to(root).as_posix())
    return found


def _discovered(root: Path, data: object) -> list[Found]:
    """What autodiscovery finds, only when the config lets it run (it reads every module)."""
    if not isinstance(data, dict):
        return []
    settings = data.get("autodiscover") if isinstance(data.get("autodiscover"), dict) else {}
    mode = str((settings or {}).get("mode") or "auto")
    if mode == "disabled" or (mode == "auto" and data.get("projects")):
        return []
    try:
        found = discover(root)
    except InfraError:
        return []  # nothing to discover: the listed projects stand alone
    paths = {layer.name: layer.path for layer in found.layers}
    return [
        Found(
            "" if layer.path == "." else layer.path,
            layer.engine,
            tuple(paths[name] for name in layer.depends_on),
        )
        for layer in found.layers
    ]


class Leftover(Struct, frozen=True):
    path: str  # relative to the repository root
    why: str


def migrate_atlantis(
    path: Path,
    *,
    output: Path | None,
    force: bool,
    console: Console,
    workflows: bool = True,
    report: Path | None = None,
    env: Mapping[str, str] = os.environ,
    server_config: Path | None = None,
) -> int:
    """Write the infra.yaml equivalent of the atlantis.yaml at `path` (a file, or the
    repository holding it), with ci.yml and docs.yml unless `workflows` is false, and print
    (or write to `report`) what had no equivalent and which Atlantis files can go.
    `server_config` is Atlantis's server-side repo config; by default the one the repository
    holds, if any (a `repos.yaml`, or Helm values with `repoConfig`)."""
    source = _find(path.resolve())
    root = source.parent  # Atlantis reads atlantis.yaml at the repository root only
    try:
        data = yaml.load(source.read_text(encoding="utf-8"), Loader=_AtlantisLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise InfraError(
            f"{source}: cannot read: {exc}", "fix the file and run this again"
        ) from exc
    disk = DiskFiles(root)
    server = _server_config(root, server_config)
    tree = _tree(root)
    migration = translate(
        data,
        is_dir=lambda d: (root / d).is_dir(),
        has_terragrunt=lambda d: (root / d / TERRAGRUNT_FILE).is_file(),
        project_dirs=_project_dirs(root),
        discovered=_discovered(root, data),
        unit_depends=lambda d: terragrunt_reads("" if d == "." else d, disk).depends_on,
        server=server,
        locate=lambda p: _locate(p, tree.files),
        locate_dir=lambda p: _locate(p, tree.rego_dirs),
        packages=lambda d: _packages(root / d),
    )
    config_file = (output or root / CONFIG_NAME).resolve()
    settings = dict(migration.settings)
    if "policies" in settings:  # repository paths; infra.yaml's are relative to infra.yaml
        policies = settings["policies"]
        paths = [_relative_path(p, root, config_file.parent) for p in policies["paths"]]
        settings["policies"] = {**policies, "paths": paths}
    text = render_config(
        [_relative_to(layer, root, config_file.parent) for layer in migration.layers],
        header=(
            f"Migrated from {source.name} by `infra migrate atlantis`: its report lists every",
            "setting with no equivalent here. Check the names and `order`, then commit.",
        ),
        settings=settings,
    )
    parse_config(text, config_file)  # what we write must load
    files = {config_file: text}
    if workflows:
        files |= workflow_files(config_file, matrix=False, default_branch=None, env=env).files
    written = write_new_files(files, force=force)
    leftovers = [item for item in find_leftovers(root) if (root / item.path).resolve() not in files]
    markdown = render_report(migration, leftovers, [shown(p, root) for p in written])
    if report is not None:
        report.write_text(markdown, encoding="utf-8")
    console.print(Markdown(markdown))
    return ExitCode.OK


class _Tree(Struct, frozen=True):
    files: list[str]  # every file, repository-relative
    rego_dirs: list[str]  # directories holding .rego files (and the .rego files themselves)


def _tree(root: Path) -> _Tree:
    files: list[str] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") or d == ".github")
        here = Path(directory).relative_to(root).as_posix()
        files += [name if here == "." else f"{here}/{name}" for name in sorted(names)]
    rego = [f for f in files if f.endswith(".rego")]
    dirs = sorted({posixpath.dirname(f) or "." for f in rego})
    return _Tree(files, [*dirs, *rego])


def _locate(server_path: str, candidates: Sequence[str]) -> str | None:
    """The one repository path that a path on the Atlantis server (`/home/atlantis/policies/`)
    is a copy of: the candidate sharing the longest tail of path segments with it, when no
    other candidate shares as long a tail. A relative path is the repository's own."""
    parts = [p for p in server_path.strip().split("/") if p and p != "<CODE_DIRECTORY>"]
    if not parts:
        return None
    if not server_path.startswith("/") and "/".join(parts) in candidates:
        return "/".join(parts)
    for length in range(len(parts), 0, -1):
        tail = parts[-length:]
        found = [c for c in candidates if c.split("/")[-length:] == tail]
        if len(found) == 1:
            return found[0]
        if found:
            return None  # ambiguous: say it is not found rather than guess
    return None


def _packages(directory: Path) -> list[str]:
    """The `package` of each .rego file under `directory` (or of the file itself)."""
    files = [directory] if directory.suffix == ".rego" else sorted(directory.rglob("*.rego"))
    found = []
    for file in files:
        match = re.search(r"^package\s+([\w.]+)", file.read_text(errors="replace"), re.M)
        if match:
            found.append(match.group(1))
    return sorted(set(found))


def _server_config(root: Path, explicit: Path | None) -> ServerConfig | None:
    """The server-side repo config: `explicit`, else the one the repository holds (a
    `repos.yaml`, Helm values or a HelmRelease with `repoConfig`); None when there is none."""
    paths = [explicit] if explicit is not None else list(_candidates(root))
    for path in paths:
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            if explicit is not None:
                raise InfraError(f"{path}: cannot read: {exc}", "fix the file") from exc
            continue
        shown_path = shown(path, root)
        for document in documents:
            found = parse_server_config(document, shown_path)
            if found is not None:
                return found
    if explicit is not None:
        raise InfraError(
            f"{explicit} holds no Atlantis server config (a `repos:` list, or `repoConfig`)",
            "pass the repos.yaml given to `atlantis server --repo-config`",
        )
    return None


def _relative_path(path: str, root: Path, config_dir: Path) -> str:
    relative = Path(os.path.relpath(root / path, config_dir)).as_posix()
    return relative + "/" if path.endswith("/") and not relative.endswith("/") else relative


def _find(path: Path) -> Path:
    if path.is_file():
        return path
    for name in ATLANTIS_FILES:
        if (path / name).is_file():
            return path / name
    raise InfraError(
        f"no atlantis.yaml in {path}",
        "pass the repository that holds atlantis.yaml, or the file itself",
    )


def _relative_to(layer: LayerDraft, root: Path, config_dir: Path) -> LayerDraft:
    """Atlantis dirs are relative to the repository; infra.yaml paths to infra.yaml."""
    return replace(layer, path=Path(os.path.relpath(root / layer.path, config_dir)).as_posix())


def find_leftovers(root: Path) -> list[Leftover]:
    """The Atlantis files a repository no longer needs once infra runs it, and Terraform files
    that deploy the Atlantis server (remove those resources through a reviewed apply)."""
    found = []
    for path in _candidates(root):
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        why = leftover_kind(rel, text)
        if why is not None:
            found.append(Leftover(rel, why))
    return found


def _candidates(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        # .github holds the old workflows; every other hidden directory is caches or VCS.
        subdirs[:] = sorted(
            d
            for d in subdirs
            if (d == ".github" or not d.startswith(".")) and d not in ("node_modules",)
        )
        for name in sorted(files):
            path = here / name
            if (name.endswith(_SCANNED) or name == "Dockerfile") and _small(path):
                yield path


def _small(path: Path) -> bool:
    try:
        return path.stat().st_size <= _MAX_BYTES
    except OSError:
        return False


def leftover_kind(path: str, text: str) -> str | None:
    """Why the file at `path` (repo-relative) belongs to the Atlantis setup, or None."""
    name = posixpath.basename(path)
    if name in ATLANTIS_FILES and "/" not in path:
        return "the Atlantis repo config, now translated to infra.yaml"
    if path.startswith(".github/workflows/"):
        # Only a workflow that runs Atlantis goes; one that merely names it (a comment, an
        # echo, a job called "atlantis-compat") is the team's own.
        code = "\n".join(
            line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#")
        )
        if _RUNS_ATLANTIS.search(code) and "infra event" not in code:
            return "a workflow that runs Atlantis; ci.yml replaces it"
        return None
    if name.endswith((".tf", ".hcl")):
        # Only a resource or module that deploys the server counts: a variable holding the
        # image name, or a README-like comment, deploys nothing.
        deploys = any(
            _IMAGE.search(block) or _HELM.search(block) or _MODULE_SOURCE.search(block)
            for block in _BLOCK.findall(text)
        )
        return (
            "Terraform that deploys the Atlantis server: delete these resources in a pull "
            "request and apply it (do not just delete the file)"
            if deploys
            else None
        )
    deploys = bool(_IMAGE.search(text) or _HELM.search(text))
    if deploys or (_STATEFULSET.search(text) and _NAMED_ATLANTIS.search(text)):
        return "deploys the Atlantis server"
    if name in ("repos.yaml", "repos.yml") and _SERVER_CONFIG.search(text):
        return "the Atlantis server-side repo config"
    return None


def render_report(migration: Migration, leftovers: Sequence[Leftover], written: list[str]) -> str:
    """The migration report as Markdown, for the terminal and for the pull request."""
    lines = ["# Migrating from Atlantis", "", f"Wrote {', '.join(f'`{w}`' for w in written)}.", ""]
    lines += ["## Layers", "", "| order | layer | path | engine | after |", "|---|---|---|---|---|"]
    for layer in migration.layers:
        after = ", ".join(layer.depends_on)
        lines.append(
            f"| {layer.order} | `{layer.name}` | `{layer.path}` | {layer.engine.value} | {after} |"
        )
    for title, equivalent in (("Translated", True), ("No equivalent", False)):
        # One row per setting and outcome, naming every project it applies to.
        rows: dict[tuple[str, str], list[str]] = {}
        for n in migration.notes:
            if n.equivalent is equivalent:
                rows.setdefault((n.setting, n.outcome), []).append(n.subject)
        if rows:
            lines += ["", f"## {title}", "", "| project | Atlantis | infra |", "|---|---|---|"]
            lines += [
                f"| {_cell(', '.join(subjects))} | `{_cell(setting)}` | {_cell(outcome)} |"
                for (setting, outcome), subjects in rows.items()
            ]
    lines += ["", "## What you can delete", ""]
    if leftovers:
        lines += [f"- `{item.path}`: {item.why}" for item in leftovers]
    else:
        lines.append("Nothing found besides atlantis.yaml: the server lives elsewhere.")
    lines += ["", "Then stop the Atlantis server and remove its webhook from the repository."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
