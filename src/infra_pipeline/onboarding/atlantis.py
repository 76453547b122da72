"""Translate an Atlantis repo config (`atlantis.yaml`, version 3) into infra.yaml layers.

Pure: the caller reads the file and says which directories exist and hold a terragrunt.hcl.
Every setting ends up in one place: the layers, the top-level settings, or a `Note` saying
what infra does instead, or that nothing does and why.
"""

from __future__ import annotations

import datetime
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from msgspec import Struct, field

from ..config import Engine
from ..core.atlantis_comments import glob_match
from ..errors import InfraError
from . import atlantis_server, atlantis_steps
from .atlantis_server import REQUIREMENTS as _REQUIREMENTS
from .atlantis_server import SHARED_KEYS, ServerConfig
from .discovery import layer_names, slug
from .migration_notes import REPOSITORY, Note, Notes
from .scaffold import LayerDraft, dependency_order

__all__ = ["REPOSITORY", "Found", "Migration", "Note", "ServerConfig", "translate"]
_PROJECT_KEYS = frozenset(
    {
        *("name", "dir", "workspace", "terraform_version", "autoplan", "workflow"),
        *("execution_order_group", "depends_on", "apply_requirements", "plan_requirements"),
        *("import_requirements", "branch", "repo_locking", "repo_locks", "policy_check"),
        *("custom_policy_check", "delete_source_branch_on_merge", "silence_pr_comments"),
        "terraform_distribution",
    }
)
# What makes a directory an Atlantis project (raw.terraformProjectIndicators).
PROJECT_FILES = ("*.tf", "*.tf.json", "*.tofu", "*.tofu.json", "terragrunt.hcl")
_GLOB_CHARS = frozenset("*?[")
# Repo-level keys: (has an equivalent, what infra does).
_REPO_KEYS = {
    "automerge": (False, "infra never merges: turn on GitHub's auto-merge instead"),
    **{k: SHARED_KEYS[k] for k in ("delete_source_branch_on_merge", "repo_locks")},
    **{k: SHARED_KEYS[k] for k in ("silence_pr_comments",)},
    "parallel_apply": (
        False,
        "not set for you: `apply_parallelism: N` applies up to N layers at once, each after "
        "its `depends_on` (with none declared, each after the one before it)",
    ),
    "abort_on_execution_order_fail": (True, "infra always stops at the first failed apply"),
    "allowed_regexp_prefixes": (False, "comments name layers exactly, or `all`"),
    "emoji_reaction": (False, "infra reacts with 👀 while it works and 🚀 or 😕 after"),
    "policies": (
        False,
        "Atlantis reads `policies` from the server-side repo config only: in atlantis.yaml "
        "it does nothing",
    ),
}


class Migration(Struct, frozen=True):
    layers: tuple[LayerDraft, ...]
    settings: Mapping[str, Any]  # top-level infra.yaml keys
    notes: tuple[Note, ...]


class _Project(Struct):
    index: int
    raw: Mapping[str, Any]
    label: str  # the project's name, else its dir (and workspace)
    dir: str
    workspace: str
    name: str = ""  # the layer's
    engine: Engine = Engine.TERRAFORM
    env: dict[str, str] = field(default_factory=dict)
    autoplan: bool | None = None
    requirements: list[str] = field(default_factory=list)
    steps: dict[str, list[atlantis_steps.Step]] = field(default_factory=dict)


class Found(Struct, frozen=True):
    """A root module that autodiscovery found (what `infra init`'s discovery proposes)."""

    dir: str
    engine: Engine
    depends_on: tuple[str, ...] = ()  # dirs


def translate(
    data: Any,
    *,
    is_dir: Callable[[str], bool] = lambda _: True,
    has_terragrunt: Callable[[str], bool] = lambda _: False,
    project_dirs: Sequence[str] = (),
    discovered: Sequence[Found] = (),
    unit_depends: Callable[[str], Iterable[str]] = lambda _: (),
    server: ServerConfig | None = None,
    locate: Callable[[str], str | None] = lambda _: None,
    locate_dir: Callable[[str], str | None] = lambda _: None,
    packages: Callable[[str], list[str]] = lambda _: [],
) -> Migration:
    """The infra.yaml equivalent of a parsed atlantis.yaml; dirs are relative to the repo root.

    `project_dirs` lists every directory holding one of `PROJECT_FILES` (glob dirs such as
    `modules/*` expand to those, as Atlantis expands them); `discovered` is what autodiscovery
    finds; `unit_depends` gives a Terragrunt unit's dependency dirs, to keep their order.
    `server` is the server-side repo config, when the repository holds it; `locate` and
    `locate_dir` find a server path (a hook's script, a policy set) in the repository, and
    `packages` lists the Rego packages under a repository directory.
    A config Atlantis would refuse as unsafe (`dir: ../x`, a workspace such as `../evil` or
    `-chdir`) is refused here too, naming every offending project at once.
    """
    if not isinstance(data, Mapping) or data.get("version") not in (2, 3):
        raise InfraError(
            "atlantis.yaml is not an Atlantis repo config of version 3",
            "check that the file has `version: 3` and a `projects:` list",
        )
    notes = Notes()
    raw_projects = _expand(data.get("projects"), project_dirs, notes)
    raw_projects += _autodiscovered(data, raw_projects, discovered, notes)
    projects, dropped = _projects(raw_projects, notes, is_dir)
    if not projects:
        raise InfraError(
            "atlantis.yaml lists no project whose directory exists",
            "run `infra init` instead: it finds the root modules itself",
        )
    _name(projects, notes)
    workflows = dict(server.workflows) if server is not None else {}
    if isinstance(data.get("workflows"), Mapping):
        workflows |= data["workflows"]  # a repo config's workflow overrides the server's
    versions: set[str] = set()
    namespaces: list[str] = []
    for project in projects:
        if has_terragrunt(project.dir) or project.engine is Engine.TERRAGRUNT:
            project.engine = Engine.TERRAGRUNT
        _distribution(project, notes)
        namespaces += _workflow(project, workflows, server, notes)
        if project.workspace != "default":
            project.env["TF_WORKSPACE"] = project.workspace
            notes.same(
                project.label,
                f"workspace: {project.workspace}",
                "TF_WORKSPACE in the layer's `env`",
            )
        if version := project.raw.get("terraform_version"):
            versions.add(str(version).removeprefix("v"))
        project.requirements = _requirements(project, notes)
        _project_settings(project, notes)
    for project, kept in dropped:
        # A dropped workspace's apply requirements still hold, on the layer that stands in
        # for its directory: stricter is the safe side.
        extra = _requirements(project, notes, into=kept.label)
        kept.requirements = [r for r in _REQUIREMENTS if r in {*kept.requirements, *extra}]
    _versions(versions, notes)
    settings: dict[str, Any] = {}
    steps: dict[str, list[atlantis_steps.Step]] = {}
    if server is not None:
        if wanted := atlantis_server.requirements(server, notes):
            settings["apply_requirements"] = wanted
        atlantis_server.settings(server, steps, notes, locate)
        found = atlantis_server.policies(server, namespaces, notes, locate_dir, packages)
        if found is not None:
            settings["policies"] = found
    if steps:
        settings["steps"] = steps
        for project in projects:  # a name is unique per stage, top-level and layer together
            for stage, own in project.steps.items():
                for step in own:
                    taken = [s["name"] for s in steps.get(stage, [])]
                    step["name"] = atlantis_steps.unique(step["name"], taken)
    _repo_settings(data, settings, notes)
    merged = {project.label: kept for project, kept in dropped}
    layers = _layers(projects, merged, notes, unit_depends)
    return Migration(tuple(layers), settings, tuple(notes))


def _expand(raw: Any, project_dirs: Sequence[str], notes: Notes) -> list[Mapping[str, Any]]:
    """The projects, checked as Atlantis checks them, with glob dirs expanded.

    Every unsafe or invalid project is collected and refused in one error.
    """
    refused: list[str] = []
    expanded: list[Mapping[str, Any]] = []
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        where = f"project #{index + 1}"
        if not isinstance(item, Mapping):
            refused.append(f"{where} is not a mapping")
            continue
        directory = _text(item.get("dir"))
        if item.get("name") is not None:
            where += f" ({item['name']})"
        if not directory or not directory.strip():
            refused.append(f"{where}: `dir` is missing or blank")
            continue
        problems = _dir_problems(directory) + _name_problems(item, directory)
        workspace = _text(item.get("workspace"))
        if workspace and (why := workspace_problem(workspace)):
            problems.append(f"workspace {workspace!r} {why}")
        if problems:
            refused += [f"{where}: {problem}" for problem in problems]
            continue
        project = {**item, "dir": directory}
        if workspace is not None:
            project["workspace"] = workspace
        if _GLOB_CHARS.isdisjoint(directory):
            expanded.append(project)
            continue
        matches = [d for d in project_dirs if glob_match(directory, d)]
        if matches:
            notes.same(
                str(item.get("name") or directory),
                f"dir: {directory}",
                f"expanded as Atlantis does, to {len(matches)} directories holding "
                f"Terraform: {', '.join(matches)}",
            )
        else:
            notes.lost(directory, f"dir: {directory}", "matches no directory holding Terraform")
        expanded += [{**project, "dir": d} for d in matches]
    if refused:
        raise InfraError(
            "atlantis.yaml: " + "; ".join(refused),
            "Atlantis refuses these too; fix them in atlantis.yaml and run this again "
            "(every layer must stay inside the repository)",
        )
    return expanded


def _text(value: Any) -> str | None:
    """A scalar as Atlantis reads it into a string (`dir: 2026-06-26` is a path, not a date)."""
    if value is None or isinstance(value, Mapping | list):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _dir_problems(directory: str) -> list[str]:
    if ".." in directory:
        return [f"dir {directory!r} contains '..': a layer must stay inside the repository"]
    if not _GLOB_CHARS.isdisjoint(directory) and not _valid_glob(directory):
        return [f"dir {directory!r} is not a valid glob pattern (an unclosed '[')"]
    return []


def _name_problems(item: Mapping[str, Any], directory: str) -> list[str]:
    name = _text(item.get("name"))
    if name is None:
        return []
    if not _GLOB_CHARS.isdisjoint(name):
        return [f"name {name!r} contains glob characters"]
    if not _GLOB_CHARS.isdisjoint(directory):
        return [f"name {name!r} with a glob dir: the projects it expands to cannot share a name"]
    return []


def workspace_problem(workspace: str) -> str | None:
    """Why Atlantis refuses this workspace name, or None (its ValidateWorkspaceName rules):
    nothing a path or a flag could be made of, nothing the environment would expand."""
    if "/" in workspace or "\\" in workspace:
        return "contains '/' or '\\'"
    if ".." in workspace:
        return "contains '..'"
    if workspace == ".":
        return "is '.'"
    if workspace.startswith("-"):
        return "starts with '-' (it would be read as a flag)"
    if workspace.startswith("~"):
        return "starts with '~'"
    if "$" in workspace:
        return "contains '$'"
    if any(ch.isspace() or not ch.isprintable() for ch in workspace):
        return "contains whitespace or control characters"
    return None


def _valid_glob(pattern: str) -> bool:
    depth = 0
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    return depth == 0


def _autodiscovered(
    data: Mapping[str, Any],
    configured: Sequence[Mapping[str, Any]],
    discovered: Sequence[Found],
    notes: Notes,
) -> list[Mapping[str, Any]]:
    """Projects Atlantis's autodiscovery would add: in `auto` mode (the default) only when
    no project is configured, in `enabled` mode for every directory no project names."""
    raw = data.get("autodiscover")
    settings = raw if isinstance(raw, Mapping) else {}
    mode = str(settings.get("mode") or "auto")
    ignore = [str(p) for p in settings.get("ignore_paths") or []]
    if mode == "disabled":
        if raw is not None:
            notes.same(REPOSITORY, "autodiscover: disabled", "only the listed projects")
        return []
    if mode == "auto" and configured:
        if raw is not None:
            notes.same(REPOSITORY, "autodiscover: auto", "projects are listed: none discovered")
        return []
    taken = {posixpath.normpath(str(p.get("dir"))) for p in configured}
    found = [
        f
        for f in discovered
        if f.dir not in taken and not any(glob_match(p, f.dir) for p in ignore)
    ]
    shown = ", ".join(f.dir for f in found) or "none"
    notes.same(
        REPOSITORY,
        f"autodiscover: {mode}" + (f" (ignore_paths: {', '.join(ignore)})" if ignore else ""),
        f"{len(found)} root modules found by `infra init`'s discovery, each a layer: {shown}",
    )
    return [
        {"dir": f.dir or ".", "_engine": f.engine, "_discovered_after": list(f.depends_on)}
        for f in found
    ]


def _distribution(project: _Project, notes: Notes) -> None:
    distribution = project.raw.get("terraform_distribution")
    if distribution is None:
        return
    if str(distribution) == "opentofu":
        if project.engine is Engine.TERRAGRUNT:
            project.env["TG_TF_PATH"] = "tofu"
            outcome = "terragrunt runs tofu (TG_TF_PATH=tofu in the layer's `env`)"
        else:
            project.engine = Engine.TOFU
            outcome = "engine: tofu"
        notes.same(project.label, "terraform_distribution: opentofu", outcome)
    elif str(distribution) != "terraform":
        notes.lost(project.label, f"terraform_distribution: {distribution}", "unknown; ignored")


def _projects(
    raw: Sequence[Mapping[str, Any]], notes: Notes, is_dir: Callable[[str], bool]
) -> tuple[list[_Project], list[tuple[_Project, _Project]]]:
    """One project per state: a directory and a Terraform workspace (a layer with
    `TF_WORKSPACE`); and each project dropped, with the one whose layer stands in for it."""
    by_dir: dict[tuple[str, str], _Project] = {}
    dropped: list[tuple[_Project, _Project]] = []
    for index, item in enumerate(raw):
        # Atlantis joins dir to the repository's path: a leading `/` or `./` changes nothing.
        directory = posixpath.normpath("/" + str(item["dir"])).strip("/") or "."
        workspace = str(item.get("workspace") or "default")
        shown = directory if workspace == "default" else f"{directory} ({workspace})"
        project = _Project(index, item, str(item.get("name") or shown), directory, workspace)
        if isinstance(item.get("_engine"), Engine):
            project.engine = item["_engine"]
        if not is_dir(directory):
            notes.lost(project.label, f"dir: {directory}", "no such directory; not migrated")
            continue
        kept = by_dir.setdefault((directory, workspace), project)
        if kept is project:
            continue
        # Atlantis refuses two projects on one dir and workspace unless they are named; they
        # still plan one state (a different -backend-config in their workflows aside).
        dropped.append((project, kept))
        notes.lost(
            project.label,
            f"dir: {directory}, workspace: {project.workspace}",
            f"the same directory and workspace as `{kept.label}`: one layer for both; a "
            "state of its own (another -backend-config) needs a directory of its own",
        )
    return sorted(by_dir.values(), key=lambda p: p.index), dropped


def _name(projects: Sequence[_Project], notes: Notes) -> None:
    derived = layer_names(list(dict.fromkeys(p.dir for p in projects if not p.raw.get("name"))))
    shared = {p.dir for p in projects if sum(q.dir == p.dir for q in projects) > 1}
    for project in projects:  # one directory, several workspaces: `app-staging`
        if project.dir in shared and project.workspace != "default" and project.dir in derived:
            derived[project.dir + "\0" + project.workspace] = (
                f"{derived[project.dir]}-{slug(project.workspace)}"
            )
    taken: set[str] = set()
    for project in projects:
        given = project.raw.get("name")
        name = (
            slug(str(given))
            if given
            else derived.get(project.dir + "\0" + project.workspace, derived[project.dir])
        )
        base, count = name, 1
        while name in taken or name == "all":
            count += 1
            name = f"{base}-{count}"
        taken.add(name)
        project.name = name
        if given and name != given:
            notes.same(project.label, f"name: {given}", f"layer `{name}` (lowercase, - _ .)")


def _workflow(
    project: _Project,
    workflows: Mapping[str, Any],
    server: ServerConfig | None,
    notes: Notes,
) -> list[str]:
    """Carry the project's workflow (its own `workflow`, else the server's default for the
    repository) into its layer; returns the policy namespaces its `policy_check` names."""
    name = project.raw.get("workflow")
    if name is None and server is not None:
        name = server.repo.get("workflow")
    if name is None:
        return []
    workflow = workflows.get(name)
    if not isinstance(workflow, Mapping):
        where = (
            "not in atlantis.yaml nor the server config found in the repository"
            if server is not None
            else "defined on the Atlantis server (repos.yaml), not in atlantis.yaml"
        )
        notes.lost(
            project.label,
            f"workflow: {name}",
            f"{where}: pass its repos.yaml with `--server-config` to carry its steps",
        )
        return []
    layer = atlantis_steps.Layer(
        project.label,
        project.dir,
        project.workspace,
        project.engine is Engine.TERRAGRUNT,
        project.env,
    )
    atlantis_steps.workflow(layer, str(name), workflow, notes)
    if layer.terragrunt and project.engine is not Engine.TERRAGRUNT:
        project.engine = Engine.TERRAGRUNT
        notes.same(project.label, f"workflow {name}: run terragrunt …", "engine: terragrunt")
    project.steps = layer.steps
    return layer.namespaces


def _requirements(project: _Project, notes: Notes, *, into: str = "") -> list[str]:
    """The project's own `apply_requirements` infra keeps, on its layer (`into`: on the
    layer that stands in for a dropped project's directory)."""
    wanted = [str(r) for r in project.raw.get("apply_requirements") or []]
    for requirement in wanted:
        if requirement == "undiverged":
            notes.same(
                project.label,
                "apply_requirements: undiverged",
                "infra applies only a "
                "plan made at the pull request's current head and base commits",
            )
        elif requirement not in _REQUIREMENTS:
            notes.lost(project.label, f"apply_requirements: {requirement}", "not in infra")
    kept = [r for r in _REQUIREMENTS if r in wanted]
    if kept:
        shown = f"apply_requirements: [{', '.join(wanted)}]"
        where = f"layer `{into}`" if into else "the layer"
        notes.same(project.label, shown, f"`apply_requirements` of {where}")
    for key in ("plan_requirements", "import_requirements"):
        if project.raw.get(key):
            notes.lost(
                project.label,
                key,
                "infra checks the commenter's role instead (`permissions:`, write by default)",
            )
    return kept


def _project_settings(project: _Project, notes: Notes) -> None:
    raw, label = project.raw, project.label
    autoplan = raw.get("autoplan")
    if isinstance(autoplan, Mapping) and autoplan.get("enabled") is False:
        project.autoplan = False
        notes.same(
            label,
            "autoplan.enabled: false",
            "the layer's `autoplan: false`: planned on `/plan` only (CI Validate still runs)",
        )
    if raw.get("branch"):
        notes.lost(label, f"branch: {raw['branch']}", "infra serves every base branch alike")
    if raw.get("repo_locking") is False or raw.get("repo_locks"):
        notes.same(
            label,
            "repo_locking / repo_locks",
            "a layer is locked from its first apply "
            "in a pull request until merge, close or /unlock",
        )
    if raw.get("custom_policy_check"):
        notes.lost(label, "custom_policy_check", "infra evaluates Rego itself (`policies`)")
    if raw.get("policy_check") is False:
        notes.lost(
            label,
            "policy_check: false",
            "`policies` hold every layer's plan: a layer cannot opt out",
        )
    for key in ("delete_source_branch_on_merge", "silence_pr_comments"):
        if raw.get(key):
            notes.lost(label, key, "not in infra")
    for key in sorted(k for k in set(raw) - _PROJECT_KEYS if not str(k).startswith("_")):
        notes.lost(label, key, "not an Atlantis project key infra knows; ignored")


def _versions(versions: set[str], notes: Notes) -> None:
    if len(versions) == 1:
        (version,) = versions
        notes.same(
            REPOSITORY,
            f"terraform_version: {version}",
            f"set the repository variable INFRA_TERRAFORM_VERSION={version}; ci.yml installs it",
        )
    elif versions:
        notes.lost(
            REPOSITORY,
            f"terraform_version: {', '.join(sorted(versions))}",
            "one Terraform per run: set INFRA_TERRAFORM_VERSION, or give a layer `binary:`",
        )


def _repo_settings(data: Mapping[str, Any], settings: dict[str, Any], notes: Notes) -> None:
    if data.get("parallel_plan") is False:
        settings["jobs"] = 1
        notes.same(REPOSITORY, "parallel_plan: false", "jobs: 1")
    elif data.get("parallel_plan"):
        notes.same(REPOSITORY, "parallel_plan: true", "infra plans in parallel (`jobs:`)")
    for key, (equivalent, outcome) in _REPO_KEYS.items():
        if data.get(key):
            shown = str(data[key]).lower() if isinstance(data[key], bool) else str(data[key])
            notes.append(Note(REPOSITORY, f"{key}: {shown}", outcome, equivalent))
    known = {"version", "projects", "workflows", "parallel_plan", "autodiscover", *_REPO_KEYS}
    for key in sorted(set(data) - known):
        notes.lost(REPOSITORY, key, "not an Atlantis key infra knows; ignored")


def _layers(
    projects: Sequence[_Project],
    merged: Mapping[str, _Project],
    notes: Notes,
    unit_depends: Callable[[str], Iterable[str]],
) -> list[LayerDraft]:
    """Layers in `execution_order_group` order, each after what it `depends_on`, and each
    Terragrunt unit after the units it has a `dependency` on."""
    by_label = {p.label: p for p in projects} | dict(merged)
    by_dir = {p.dir: p for p in projects}
    depends: dict[str, set[str]] = {p.name: set() for p in projects}
    for project in projects:
        after = list(project.raw.get("_discovered_after") or [])
        if project.engine is Engine.TERRAGRUNT:
            after += list(unit_depends(project.dir))
        for directory in after:
            target = by_dir.get(directory or ".")
            if target is not None and target is not project:
                depends[project.name].add(target.name)
        for wanted in project.raw.get("depends_on") or []:
            target = by_label.get(str(wanted))
            if target is None:
                notes.lost(project.label, f"depends_on: {wanted}", "no such project migrated")
            elif target is not project:
                depends[project.name].add(target.name)
    position = {p.name: (_group(p.raw), p.index) for p in projects}
    by_name = {p.name: p for p in projects}
    return [
        LayerDraft(
            name=name,
            path=by_name[name].dir,
            engine=by_name[name].engine,
            order=order,
            watch=tuple(_watch(by_name[name], notes)),
            depends_on=tuple(sorted(depends[name])),
            env=dict(by_name[name].env),
            autoplan=by_name[name].autoplan,
            apply_requirements=tuple(by_name[name].requirements),
            steps=by_name[name].steps,
        )
        for order, name in enumerate(dependency_order(depends, position.__getitem__), start=1)
    ]


def _group(raw: Mapping[str, Any]) -> int:
    group = raw.get("execution_order_group", 0)
    return group if isinstance(group, int) else 0


def _watch(project: _Project, notes: Notes) -> Iterator[str]:
    """`when_modified` globs outside the layer's directory (inside it, `path` covers them)."""
    autoplan = project.raw.get("autoplan")
    globs = autoplan.get("when_modified") if isinstance(autoplan, Mapping) else None
    for glob in map(str, globs if isinstance(globs, list) else []):
        joined = posixpath.normpath(posixpath.join(project.dir, glob.lstrip("!")))
        if glob.startswith("!"):
            notes.lost(
                project.label,
                f"when_modified: {glob}",
                "no exclusions in infra: a change under the layer's path always touches it",
            )
        elif joined == ".." or joined.startswith("../"):
            notes.lost(project.label, f"when_modified: {glob}", "outside the repository")
        elif not (
            project.dir == "." or joined == project.dir or joined.startswith(project.dir + "/")
        ):
            yield joined
