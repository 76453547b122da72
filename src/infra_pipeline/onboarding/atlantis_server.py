"""Atlantis's server-side repo config (`repos.yaml`, or the Helm chart's `repoConfig`) as
infra.yaml's top-level settings (pure): repo-level `apply_requirements`, workflow hooks,
the default workflow, and `policies`.

The server config covers every repository the server serves; a migration is about one. Its
`repos` entries are merged in order (a later one wins, as Atlantis merges those matching a
repository), and the report says so when there were several.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml
from msgspec import Struct

from . import atlantis_steps
from .migration_notes import REPOSITORY, Notes

REQUIREMENTS = ("approved", "mergeable")  # what infra.yaml's apply_requirements knows
_LOCKS = "a layer is locked from its first apply until merge, close or /unlock"
# Keys both configs have: (has an equivalent, what infra does).
SHARED_KEYS = {
    "delete_source_branch_on_merge": (
        False,
        "a GitHub setting: Settings → General → Automatically delete head branches",
    ),
    "repo_locking": (True, _LOCKS),
    "repo_locks": (True, _LOCKS),
    "silence_pr_comments": (False, "infra keeps one dashboard comment per commit instead"),
}
# Repo-entry keys: what infra does instead (the others are translated by `settings`).
_REPO_NOTES = {
    **SHARED_KEYS,
    "branch": (False, "infra serves pull requests into the default branch and `apply_bases`"),
    "allow_custom_workflows": (
        True,
        "steps are read from infra.yaml on the default branch: a pull request cannot add "
        "or change them, as Atlantis's server-side workflows could not be",
    ),
    "allowed_workflows": (True, "every step in infra.yaml is allowed once it is merged"),
    "custom_policy_check": (False, "infra evaluates Rego itself (`policies`), not conftest"),
    "autodiscover": (False, "the layers come from atlantis.yaml's projects"),
    "policy_check": (True, "`policies` (below): each layer's plan is checked"),
}
_KNOWN = {
    "id",
    "apply_requirements",
    "plan_requirements",
    "import_requirements",
    "allowed_overrides",
    "workflow",
    "pre_workflow_hooks",
    "post_workflow_hooks",
    *_REPO_NOTES,
}


class ServerConfig(Struct, frozen=True):
    source: str  # where it was read, e.g. "deploy/atlantis/values.yaml"
    repo: Mapping[str, Any]  # the `repos` entries, merged
    workflows: Mapping[str, Any]
    policies: Mapping[str, Any] | None
    entries: int = 1


def server_config(data: Any, source: str) -> ServerConfig | None:
    """The server config in `data`: a `repos.yaml` document, or one that holds it as a
    string under `repoConfig` (the Helm chart's values, or a HelmRelease's `spec.values`)."""
    if isinstance(data, Mapping) and _is_repos(data.get("repos")):
        merged: dict[str, Any] = {}
        for entry in data["repos"]:
            if isinstance(entry, Mapping):
                merged.update(entry)
        workflows = data.get("workflows")
        policies = data.get("policies")
        return ServerConfig(
            source,
            merged,
            workflows if isinstance(workflows, Mapping) else {},
            policies if isinstance(policies, Mapping) else None,
            len(data["repos"]),
        )
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == "repoConfig" and isinstance(value, str):
                try:
                    inner = yaml.safe_load(value)
                except yaml.YAMLError:
                    return None
                return server_config(inner, f"{source} (repoConfig)")
            found = server_config(value, source) if isinstance(value, Mapping) else None
            if found is not None:
                return found
    return None


def _is_repos(value: Any) -> bool:
    """Atlantis's `repos:` list: mappings, each naming the repositories it is for (`id`)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(entry, Mapping) and "id" in entry for entry in value)
    )


def requirements(server: ServerConfig, notes: Notes) -> list[str]:
    """The repo-level `apply_requirements` infra keeps (top-level in infra.yaml)."""
    wanted = [str(r) for r in server.repo.get("apply_requirements") or []]
    for requirement in wanted:
        if requirement == "undiverged":
            notes.same(
                REPOSITORY,
                "apply_requirements: undiverged",
                "infra applies only a plan made at the pull request's current head and base",
            )
        elif requirement not in REQUIREMENTS:
            notes.lost(REPOSITORY, f"apply_requirements: {requirement}", "not in infra")
    kept = [r for r in REQUIREMENTS if r in wanted]
    if kept:
        notes.same(
            REPOSITORY,
            f"repos.yaml apply_requirements: [{', '.join(wanted)}]",
            "top-level `apply_requirements` (every layer)",
        )
    return kept


def settings(
    server: ServerConfig,
    steps: dict[str, list[atlantis_steps.Step]],
    notes: Notes,
    locate: Callable[[str], str | None],
) -> None:
    """Notes for the repo entry's keys, and its hooks as top-level `steps`."""
    repo = server.repo
    notes.same(
        REPOSITORY,
        f"server-side repo config: {server.source}",
        "read for the repo-level settings, workflows, hooks and policies below",
    )
    if server.entries > 1:
        notes.same(
            REPOSITORY,
            f"{server.source}: {server.entries} `repos` entries",
            "merged in order, a later one winning, as if all matched this repository: check "
            "that they do",
        )
    overrides = [str(k) for k in repo.get("allowed_overrides") or []]
    if "apply_requirements" in overrides:
        notes.same(
            REPOSITORY,
            "allowed_overrides: apply_requirements",
            "a layer's `apply_requirements` add to the top-level ones (in Atlantis a "
            "project's replaced the server's): stricter, never weaker",
        )
    if overrides:
        notes.same(
            REPOSITORY,
            f"allowed_overrides: [{', '.join(overrides)}]",
            "infra.yaml is one reviewed file: a key changes once its change is merged",
        )
    for key in ("plan_requirements", "import_requirements"):
        if repo.get(key):
            notes.lost(
                REPOSITORY,
                f"{key}: {list(repo[key])}",
                "infra checks the commenter's role instead (`permissions:`, write by default)",
            )
    for key, (equivalent, outcome) in _REPO_NOTES.items():
        if repo.get(key) is not None and repo.get(key) is not False:
            value = repo[key]
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            (notes.same if equivalent else notes.lost)(REPOSITORY, f"{key}: {shown}", outcome)
    atlantis_steps.hooks("pre", repo.get("pre_workflow_hooks"), steps, notes, locate)
    atlantis_steps.hooks("post", repo.get("post_workflow_hooks"), steps, notes, locate)
    for key in sorted(set(repo) - _KNOWN):
        notes.lost(REPOSITORY, f"repos.yaml {key}", "not a repos.yaml key infra knows; ignored")


def policies(
    server: ServerConfig,
    namespaces: Sequence[str],
    notes: Notes,
    locate_dir: Callable[[str], str | None],
    packages: Callable[[str], list[str]],
) -> dict[str, Any] | None:
    """`policies: {paths, namespaces}` from the server's `policy_sets`, or None when none of
    them is in the repository. `locate_dir` finds a server path's directory in the
    repository; `packages` lists the Rego packages under a repository directory."""
    raw = server.policies
    if raw is None:
        return None
    paths: list[str] = []
    for policy_set in raw.get("policy_sets") or []:
        if not isinstance(policy_set, Mapping):
            continue
        name, path = policy_set.get("name"), str(policy_set.get("path") or "")
        setting = f"policy_sets: {name} ({path})"
        found = locate_dir(path)
        if found is None:
            notes.lost(
                REPOSITORY,
                setting,
                "its Rego files are not in this repository (a path on the Atlantis server): "
                "commit them, then list the directory in `policies.paths`",
            )
            continue
        paths.append(found)
        notes.same(REPOSITORY, setting, f"`policies.paths`: `{found}`")
        if policy_set.get("owners"):
            _owners(f"policy_sets: {name} owners", policy_set["owners"], notes)
        for key in ("prevent_self_approve", "approve_count"):
            if policy_set.get(key):
                notes.lost(REPOSITORY, f"policy_sets: {name} {key}", _APPROVALS)
    if raw.get("owners"):
        _owners("policies.owners", raw["owners"], notes)
    for key in ("approve_count", "conftest_version"):
        if raw.get(key):
            why = _APPROVALS if key == "approve_count" else "infra evaluates Rego in-process"
            notes.lost(REPOSITORY, f"policies.{key}: {raw[key]}", why)
    if not paths:
        return None
    wanted = list(dict.fromkeys(namespaces)) or ["main"]
    if not namespaces:
        declared = sorted({p for path in paths for p in packages(path)})
        if declared and "main" not in declared:
            notes.same(
                REPOSITORY,
                "conftest's default namespace `main`",
                f"none of the Rego files is `package main` (they declare {', '.join(declared)}):"
                " conftest would have checked nothing either; add them to `policies.namespaces`"
                " if they were meant to count",
            )
    return {"paths": [_as_dir(p) for p in paths], "namespaces": wanted}


_APPROVALS = (
    "one `/approve_policies` by someone with the `policies.approvers` role lets the commit's "
    "apply go ahead"
)


def _owners(setting: str, owners: Any, notes: Notes) -> None:
    users = list(owners.get("users") or []) if isinstance(owners, Mapping) else []
    teams = list(owners.get("teams") or []) if isinstance(owners, Mapping) else []
    who = ", ".join([*(f"@{u}" for u in users), *(f"team {t}" for t in teams)]) or "nobody"
    notes.lost(
        REPOSITORY,
        f"{setting}: {who}",
        "infra lets a repository role approve failed policies (`policies.approvers`, default "
        "`maintain`), not named people: decide the role, and give these people that role "
        "(or set `approvers` to a role they hold)",
    )


def _as_dir(path: str) -> str:
    return path if path.endswith(".rego") else posixpath.join(path, "")
