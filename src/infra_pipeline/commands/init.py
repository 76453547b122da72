"""`infra init [DIR]`: propose infra.yaml from the root modules found, and write the workflows."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import templates
from ..config import CONFIG_NAME, load_config, parse_config
from ..errors import ExitCode, InfraError
from ..onboarding.discovery import Discovery, discover
from ..onboarding.scaffold import LayerDraft, render_config, shown, workflow_files, write_new_files

_HEADER = (
    "Written by `infra init`. Check each layer's name and `order` (layers plan in parallel and",
    "apply one at a time in ascending order), then commit it with .github/workflows/ci.yml.",
    "Every key: `infra config schema`, or the infra.yaml reference in the docs.",
)
_FOOTER = """
# Who may run each comment command (default: write, and anyone for /help):
# permissions:
#   apply: maintain
# Ask for these before /apply runs:
# apply_requirements: [approved, mergeable]
"""


def init_repo(
    directory: Path,
    *,
    force: bool,
    console: Console,
    matrix: bool = False,
    default_branch: str | None = None,
    workflows_only: bool = False,
    env: Mapping[str, str] = os.environ,
    long: bool = False,
    action: str = "",
    only_config: bool = False,
) -> int:
    """Write infra.yaml into `directory` and the workflows into its repository's root.

    `only_config` writes infra.yaml alone, for teams with their own workflows. An existing
    docs.yml is kept (the team's docs build is theirs); any other existing target stops the
    write, unless `force`; `matrix` writes the scale-out
    variant of ci.yml and `long` the one with every step spelled out; `action` is the GitHub
    Action's OWNER/REPO@REF (default: the installed version's tag); `workflows_only` keeps
    the existing infra.yaml (to upgrade the workflows after installing a new version).
    """
    directory = directory.resolve()
    if not directory.is_dir():
        raise InfraError(f"{directory} is not a directory", "pass the repository's directory")
    config_file = directory / CONFIG_NAME
    # Made once the config is known to load (with --workflows-only) or is rendered.
    make_workflows = partial(
        workflow_files,
        config_file,
        matrix=matrix,
        default_branch=default_branch,
        env=env,
        long=long,
        action=action,
    )
    if workflows_only:
        load_config(config_file)  # the workflows must serve a config that loads
        workflows = make_workflows()
        _print_written(console, workflows.root, write_new_files(workflows.files, force=force))
        return ExitCode.OK
    found = discover(directory)
    header = list(_HEADER)
    for cycle in found.cycles:
        header.append(f"CHECK: {' and '.join(cycle)} depend on each other (a cycle); their")
        header.append("order below is by path: fix it, or break the cycle in the configuration.")
    text = render_config(found.layers, header=header) + _FOOTER
    parse_config(text, config_file)  # what we write must load
    if only_config:
        written = write_new_files({config_file: text}, force=force)
        _report(console, directory, written, found, None)
        return ExitCode.OK
    workflows = make_workflows()
    root, values = workflows.root, workflows.values
    files = dict(workflows.files)
    docs = root / ".github" / "workflows" / "docs.yml"
    kept_docs = docs.exists() and not force
    if kept_docs:
        del files[docs]  # the team's own docs build stays theirs
    written = write_new_files({config_file: text, **files}, force=force)
    # docs.yml builds with mkdocs: give a repository without a site a first page, but never
    # touch one that has its own.
    starters = {} if kept_docs else _docs_starter(root, found.layers)
    for path, starter in starters.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter, encoding="utf-8")
    _report(console, root, [*written, *starters], found, values)
    if kept_docs:
        console.print(
            f"Kept your {escape(shown(docs, root))} (not overwritten; --force replaces it)."
        )
    return ExitCode.OK


def _report(
    console: Console,
    root: Path,
    written: Sequence[Path],
    found: Discovery,
    values: templates.TemplateValues | None,
) -> None:
    layers: Sequence[LayerDraft] = found.layers
    warnings = found.warnings
    table = Table(title="Layers", title_justify="left")
    for column in ("order", "name", "path", "engine", "after", "watch"):
        table.add_column(column)
    for layer in layers:
        table.add_row(
            str(layer.order),
            layer.name,
            layer.path,
            layer.engine.value,
            ", ".join(layer.depends_on),
            ", ".join(layer.watch),
        )
    console.print(table)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if found.skipped:
        console.print("Not proposed as layers:")
        for item in found.skipped:
            console.print(f"  {escape(item.path)}: {escape(item.why)}")
    _print_written(console, root, written)
    if values is None:
        console.print(
            "Only infra.yaml was written: run `infra event` from your own workflow "
            "(or `infra init --workflows-only` later for ours)."
        )
        return
    steps = [
        f"Review {values.config_path}: layer names, `order`, and `watch` for files outside "
        "a layer.",
        "Add your cloud credentials to .github/workflows/ci.yml: OIDC (uncomment "
        "`id-token: write` and the login step) or secrets in the action's `env:`.",
        f"Commit, push a branch and open a pull request against `{values.default_branch}`: "
        "the dashboard appears and `/plan` runs by itself.",
        "Comment `/help` on the pull request to see every command.",
    ]
    if (root / "atlantis.yaml").is_file() or (root / "atlantis.yml").is_file():
        steps.insert(
            0,
            "This repository has an atlantis.yaml: `infra migrate atlantis` keeps "
            "its project names and order, and lists what to delete afterwards.",
        )
    console.print("Next steps:")
    for number, step in enumerate(steps, start=1):
        console.print(f"  {number}. {escape(step)}")


def _print_written(console: Console, root: Path, written: Sequence[Path]) -> None:
    console.print("Wrote:")
    for path in written:
        console.print(f"  {escape(shown(path, root))}")


def _docs_starter(root: Path, layers: Sequence[LayerDraft]) -> dict[Path, str]:
    if (root / "mkdocs.yml").exists() or (root / "mkdocs.yaml").exists():
        return {}
    files = {root / "mkdocs.yml": "site_name: Infrastructure\ntheme:\n  name: material\n"}
    index = root / "docs" / "index.md"
    if not index.exists():
        rows = "\n".join(f"| {layer.order} | `{layer.name}` | `{layer.path}` |" for layer in layers)
        files[index] = (
            "# Infrastructure\n\n"
            "Changes go through pull requests: the pipeline plans the layers a change touches\n"
            "and keeps one dashboard comment per commit. Comment `/help` on a pull request for\n"
            "the commands.\n\n"
            "| order | layer | path |\n|---|---|---|\n" + rows + "\n"
        )
    return files
