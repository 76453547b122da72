"""`infra init [DIR]`: propose infra.yaml from the root modules found, and write the workflows."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import templates
from ..config import CONFIG_NAME, load_config, parse_config
from ..errors import ExitCode, InfraError
from ..onboarding.discovery import discover
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
) -> int:
    """Write infra.yaml into `directory` and the workflows into its repository's root.

    Nothing is written when any target exists, unless `force`; `matrix` writes the scale-out
    variant of ci.yml and `long` the one with every step spelled out; `action` is the GitHub
    Action's OWNER/REPO@REF (default: the installed version's tag); `workflows_only` keeps
    the existing infra.yaml (to upgrade the workflows after installing a new version).
    """
    directory = directory.resolve()
    if not directory.is_dir():
        raise InfraError(f"{directory} is not a directory", "pass the repository's directory")
    config_file = directory / CONFIG_NAME
    if workflows_only:
        load_config(config_file)  # the workflows must serve a config that loads
        workflows = workflow_files(
            config_file,
            matrix=matrix,
            default_branch=default_branch,
            env=env,
            long=long,
            action=action,
        )
        _print_written(console, workflows.root, write_new_files(workflows.files, force=force))
        return ExitCode.OK
    found = discover(directory)
    text = render_config(found.layers, header=_HEADER) + _FOOTER
    parse_config(text, config_file)  # what we write must load
    workflows = workflow_files(
        config_file,
        matrix=matrix,
        default_branch=default_branch,
        env=env,
        long=long,
        action=action,
    )
    root, values = workflows.root, workflows.values
    written = write_new_files({config_file: text, **workflows.files}, force=force)
    # docs.yml builds with mkdocs: give a repository without a site a first page, but never
    # touch one that has its own.
    starters = _docs_starter(root, found.layers)
    for path, starter in starters.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter, encoding="utf-8")
    _report(console, root, [*written, *starters], found.layers, found.warnings, values)
    return ExitCode.OK


def _report(
    console: Console,
    root: Path,
    written: Sequence[Path],
    layers: Sequence[LayerDraft],
    warnings: Sequence[str],
    values: templates.TemplateValues,
) -> None:
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
    _print_written(console, root, written)
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
