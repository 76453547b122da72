"""mkdocs hook: the parts of the docs that the code already says, rendered at build time.

- `reference/cli.md`: every `infra` command, argument and option, from the CLI itself;
- `<!-- generated:state-diagram -->` in a page: the dashboard's state machine as a Mermaid
  diagram, from `core.dashboard.state_machine.TRANSITIONS`;
- `<!-- generated:status-icons -->`: the dashboard's status icons, from `Status`;
- `<!-- generated:default-roles -->`: the role each comment command needs by default;
- `<!-- generated:workflow-permissions -->`: each shipped job's token permissions and why;
- `<!-- generated:comment-help -->`: what `/help` replies, from `core.comments.help_text`;
- `<!-- generated:benchmarks -->`: one row per `bench/*.py` script, from its docstring;
- `<!-- generated:json-schema -->`: the JSON Schema of `--json`, from `json_report.Report`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

CLI_PAGE = "reference/cli.md"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LAYERS = ("bootstrap", "platform", "data-staging", "data-prod")
EXAMPLE_SUITES = ("smoke",)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    for marker, render in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown


# The CLI ------------------------------------------------------------------------------------


def cli_reference() -> str:
    from infra_pipeline.main import app

    # Typer carries its own copy of click: use its classes through the objects, not `click.`.
    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="infra")
    lines = [
        "# CLI reference",
        "",
        "Generated from the `infra` command itself; `infra COMMAND --help` says the same.",
        "What each command is for: [Commands](../commands.md).",
        "",
        _text(root.help or ""),
        "",
        "Global options (before the command):",
        "",
        *_options(root, context),
    ]
    for command, ctx in _commands(root, context):
        lines += ["", f"## `{ctx.command_path}`", "", _text(command.help or ""), ""]
        lines += ["```text", command.get_usage(ctx), "```", "", *_options(command, ctx)]
    return "\n".join(lines) + "\n"


def _commands(group: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    for name in group.list_commands(ctx) if hasattr(group, "list_commands") else ():
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        child = command.context_class(command, info_name=name, parent=ctx)
        if hasattr(command, "list_commands"):
            if getattr(command, "invoke_without_command", False):
                yield command, child  # `infra config` runs on its own too
            yield from _commands(command, child)
        else:
            yield command, child


def _options(command: Any, ctx: Any) -> list[str]:
    rows = ["| argument or option | default | description |", "|:---|:---|:---|"]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "option":
            names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        else:
            names = f"`{param.name.upper()}`" + ("…" if param.nargs == -1 else "")
        help_text = getattr(param, "help", None) or ""
        default = None if param.required else param.get_default(ctx)
        shown = "required" if param.required else "-" if default in (None, (), []) else default
        rows.append(f"| {names} | {_cell(str(shown))} | {_cell(_text(help_text))} |")
    return rows if len(rows) > 2 else ["No options."]


# The state machine --------------------------------------------------------------------------


def state_diagram() -> str:
    """The transitions as drawn in the spec; the re-run and re-plan arrows, which reach a state
    from almost anywhere, are listed below the diagram instead of drawn."""
    from infra_pipeline.core.dashboard.state_machine import TRANSITIONS, Event, State

    families = {
        Event.CI_STARTED: (State.CREATED, "re-run the workflow for the same commit"),
        Event.PLAN_STARTED: (State.CI_PASSED, "comment `/plan` again on the same commit"),
    }
    drawn = [
        (source, event, target)
        for (source, event), target in TRANSITIONS.items()
        if event not in families or source is families[event][0]
    ]
    lines = ["```mermaid", "stateDiagram-v2", f"    [*] --> {State.CREATED.value}"]
    lines += [f"    {s.value} --> {t.value}: {e.value}" for s, e, t in drawn]
    ends = [s for s in State if not any(source is s for source, _, _ in drawn)]
    lines += [f"    {s.value} --> [*]" for s in ends]
    lines += ["```", "", "| also | from | to |", "|:---|:---|:---|"]
    for event, (_, why) in families.items():
        sources = [s.value for (s, e) in TRANSITIONS if e is event and s is not families[e][0]]
        target = next(t for (s, e), t in TRANSITIONS.items() if e is event).value
        lines.append(f"| {why} (`{event.value}`) | {', '.join(sources)} | {target} |")
    return "\n".join(lines)


def status_icons() -> str:
    from infra_pipeline.core.dashboard.model import Status

    rows = ["| icon | status | meaning |", "|:---:|:---|:---|"]
    rows += [f"| {s.icon} | `{s.value}` | {s.meaning} |" for s in Status]
    return "\n".join(rows)


def default_roles() -> str:
    from infra_pipeline.config import COMMANDS, Config, Layer

    # Any valid config shows the defaults; this one has nothing but a layer.
    config = Config(layers={"example": Layer(name="example", path=".", order=1)})
    rows = ["| command | role needed by default |", "|:---|:---|"]
    rows += [f"| `/{command}` | `{config.role_for(command).value}` |" for command in COMMANDS]
    return "\n".join(rows)


def workflow_permissions() -> str:
    """Each job's permissions in the shipped workflows, with the reason written beside each."""
    from infra_pipeline import templates

    rows = ["| workflow | job | permission | why |", "|:---|:---|:---|:---|"]
    for name in templates.NAMES:
        job, inside = "", False
        for line in templates.raw(name).splitlines():
            if re.match(r"^  [\w-]+:\s*$", line):
                job, inside = line.strip().rstrip(":"), False
            elif job and line == "    permissions:":
                inside = True
            elif inside and (grant := re.match(r"^      ([\w-]+): (\w+)(?:\s+# (.*))?$", line)):
                scope, access, why = grant.groups()
                rows.append(f"| `{name}` | `{job}` | `{scope}: {access}` | {_cell(why or '')} |")
            else:
                inside = inside and line.startswith("      ")
    return "\n".join(rows)


# /help --------------------------------------------------------------------------------------


def comment_help() -> str:
    from infra_pipeline.core.comment_parser import help_text

    text = help_text(EXAMPLE_LAYERS, EXAMPLE_SUITES)
    # Drop the reply's own heading: the page has one.
    return "\n".join(line for line in text.splitlines() if not line.startswith("## "))


# Benchmarks ---------------------------------------------------------------------------------


def benchmarks() -> str:
    rows = ["| script | what it measures | figures |", "|:---|:---|:---|"]
    for script in sorted((ROOT / "bench").glob("*.py")):
        doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        summary = _text(doc.split("\n\n", 1)[0])
        run = f"`python bench/{script.name}`"
        rows.append(f"| `bench/{script.name}` | {_cell(summary)} | printed by {run} |")
    return "\n".join(rows) if len(rows) > 2 else "No benchmark scripts yet."


def json_output_schema() -> str:
    import json

    from infra_pipeline.json_report import json_schema

    return "```json\n" + json.dumps(json_schema(), indent=2) + "\n```"


_MARKERS = {
    "<!-- generated:json-schema -->": json_output_schema,
    "<!-- generated:state-diagram -->": state_diagram,
    "<!-- generated:comment-help -->": comment_help,
    "<!-- generated:benchmarks -->": benchmarks,
    "<!-- generated:status-icons -->": status_icons,
    "<!-- generated:default-roles -->": default_roles,
    "<!-- generated:workflow-permissions -->": workflow_permissions,
}


def _text(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
