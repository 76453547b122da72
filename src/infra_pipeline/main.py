"""The `infra` CLI: declarative wiring only. Each command loads the config, calls one function
in `commands/` or `flows/`, and turns its result into an exit code. Imports are lazy so that
`infra --help` and ignored events start fast."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from msgspec import Struct, field

from .entry import error_console, outcome, parse_hot, run_hot
from .entry import run as run  # the console script of installs made before it moved
from .errors import ExitCode, InfraError

if TYPE_CHECKING:
    from rich.console import Console

    from .adapters.actions_env import ActionsEnv
    from .config import Config

EXIT_CODES = (
    "Exit codes: 0 success · 1 failure (a layer failed, a refusal, an API error) · "
    "2 usage or config error · 3 with --detailed-exitcode: success, and changes are present · "
    "130 cancelled."
)

app = typer.Typer(
    help="Serverless Terraform/Terragrunt pipeline for GitHub pull requests.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show the resolved infra.yaml, or its JSON Schema.")
app.add_typer(config_app, name="config")
migrate_app = typer.Typer(help="Move to infra-pipeline from another tool.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
dashboard_app = typer.Typer(help="The pull request's dashboard comment.", no_args_is_help=True)
app.add_typer(dashboard_app, name="dashboard")
policy_app = typer.Typer(help="Policy as code (`policies:` in infra.yaml).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


class Invocation(Struct):
    """What this run of the CLI was given: the environment (a dict in tests), `--config` and
    the working directory; the terminal and the Actions environment are built from them once,
    on first use, and handed to the command (which builds its `flows.job.Job` from them)."""

    env: Mapping[str, str]
    config_path: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    _console: Console | None = None
    _actions: ActionsEnv | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    @property
    def actions(self) -> ActionsEnv:
        if self._actions is None:
            from .adapters.actions_env import ActionsEnv

            self._actions = ActionsEnv.from_env(self.env)
        return self._actions

    def config(self) -> Config:
        from .config import find_config, load_config

        return load_config(find_config(self.cwd, self.config_path, self.env))


def _ctx(ctx: typer.Context) -> Invocation:
    obj = ctx.obj
    assert isinstance(obj, Invocation)
    return obj


def _done(code: int) -> None:
    raise typer.Exit(int(code))


class GraphFormat(StrEnum):
    TEXT = "text"
    MERMAID = "mermaid"


LayersArg = Annotated[
    list[str] | None,
    typer.Argument(help="Layer names, or `all` (the default).", show_default=False),
]
MarkdownOpt = Annotated[
    bool, typer.Option("--markdown", help="Also print the dashboard a PR would get.")
]
JobsOpt = Annotated[int | None, typer.Option("--jobs", "-j", help="Layers planned at once.")]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout (versioned schema: see the docs' Commands "
        "page); the log goes to stderr.",
    ),
]
ResultsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--results-dir",
        help="Scale-out workflow: also run CI Validate, write each layer's result to "
        "DIR/LAYER.json for `infra dashboard refresh`, and leave the dashboard alone.",
        metavar="DIR",
    ),
]


def _print_version(wanted: bool) -> None:
    if wanted:
        from .templates import package_version

        sys.stdout.write(f"infra-pipeline {package_version()}\n")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _options(
    ctx: typer.Context,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Path to infra.yaml (or $INFRA_CONFIG).")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
            expose_value=False,
        ),
    ] = False,
) -> None:
    obj = ctx.obj if isinstance(ctx.obj, Invocation) else Invocation(env=os.environ)
    obj.config_path = config
    ctx.obj = obj


@app.command()
def validate(ctx: typer.Context, layers: LayersArg = None, jobs: JobsOpt = None) -> None:
    """`terraform fmt -check` and `validate` on layers (annotations in GitHub Actions)."""
    from .flows.pipeline import select_layers
    from .flows.validate import run_validate

    c = _ctx(ctx)
    config = c.config()
    code, _ = run_validate(
        config, select_layers(config, layers or []), env=c.env, console=c.console, jobs=jobs
    )
    _done(code)


@app.command()
def plan(
    ctx: typer.Context,
    layers: LayersArg = None,
    jobs: JobsOpt = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when any layer has changes.")
    ] = False,
    markdown: MarkdownOpt = False,
    results_dir: ResultsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan layers in parallel and show what would change."""
    c = _ctx(ctx)
    _one_stdout(markdown, as_json)
    config = c.config()
    console = _error_console(c) if as_json else c.console
    if results_dir is not None:
        from .flows.matrix import plan_to_results

        code, runs = plan_to_results(
            config,
            layers or [],
            c.cwd / results_dir,
            env=c.env,
            actions=c.actions,
            console=console,
            jobs=jobs,
            detailed_exitcode=detailed_exitcode,
        )
    else:
        from .flows.plan import run_plan

        code, runs = run_plan(
            config,
            layers or [],
            env=c.env,
            console=console,
            jobs=jobs,
            detailed_exitcode=detailed_exitcode,
            values=markdown or as_json,
        )
    _markdown(c, config, runs, markdown, applied=False)
    _json(as_json, "plan", runs, code)
    _done(code)


@app.command()
def apply(
    ctx: typer.Context,
    layers: LayersArg = None,
    markdown: MarkdownOpt = False,
    auto_approve: Annotated[
        bool,
        typer.Option(
            "--auto-approve",
            help="Apply without asking (CI, scripts). Without it, `apply` shows each layer's "
            "plan on the terminal and asks for `yes`.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Plan and apply layers along their dependency graph; on a terminal, each layer with
    changes only after you type `yes`."""
    from .commands.apply import run_apply
    from .flows.pipeline import select_layers

    c = _ctx(ctx)
    _one_stdout(markdown, as_json)
    config = c.config()
    select_layers(config, layers or [])  # an unknown layer is named before anything else
    if as_json and not auto_approve:
        raise InfraError(
            "--json needs --auto-approve: a script reading the JSON cannot answer the prompt",
            "add --auto-approve",
            ExitCode.USAGE,
        )
    if not auto_approve and not sys.stdin.isatty():
        raise InfraError(
            "infra apply asks for approval before it changes anything, "
            "and there is no terminal to ask on",
            "run it in a terminal, or pass --auto-approve to apply without asking",
            ExitCode.USAGE,
        )
    ask = None if auto_approve else c.console.input
    console = _error_console(c) if as_json else c.console
    code, runs = run_apply(config, layers or [], env=c.env, console=console, ask=ask)
    _markdown(c, config, runs, markdown, applied=True)
    _json(as_json, "apply", runs, code)
    _done(code)


def _one_stdout(markdown: bool, as_json: bool) -> None:
    if markdown and as_json:
        raise InfraError("--markdown and --json both print on stdout", "pick one", ExitCode.USAGE)


def _json(wanted: bool, command: Any, runs: Any, code: int) -> None:
    if wanted:
        from .json_report import build, to_json

        sys.stdout.write(to_json(build(command, runs, code)) + "\n")


@app.command(name="force-unlock")
def force_unlock(
    ctx: typer.Context,
    layer: Annotated[str, typer.Argument(help="The layer whose state lock to release.")],
    lock_id: Annotated[
        str, typer.Argument(help="The lock's ID, as the plan that found it held printed it.")
    ],
) -> None:
    """Release a stale Terraform state lock (refused while the run holding it still runs)."""
    from .commands.force_unlock import run_force_unlock

    c = _ctx(ctx)
    _done(
        run_force_unlock(
            c.config(),
            layer,
            lock_id,
            env=c.env,
            actions=c.actions,
            console=c.console,
            clock=_utcnow,
        )
    )


@policy_app.command("test")
def policy_test(
    ctx: typer.Context,
    plan_json: Annotated[
        Path, typer.Argument(help="A plan as `terraform show -json PLANFILE` prints it.")
    ],
    policy: Annotated[
        list[Path] | None,
        typer.Option(
            "--policy",
            "-p",
            help="Policy directory or .rego file (repeatable); default: `policies.paths` of "
            "infra.yaml, else policy/.",
        ),
    ] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Rego package to read (repeatable); default: `policies.namespaces`, else main.",
        ),
    ] = None,
) -> None:
    """Run the policies against a plan JSON file: prints each failure and warning. Exit 0
    passed (warnings allowed), 1 a policy failed, 2 the plan or the policies cannot be read."""
    from .commands.policy_test import run_policy_test
    from .config import find_config, load_config
    from .errors import ConfigError

    c = _ctx(ctx)
    try:
        found = find_config(c.cwd, c.config_path, c.env)
    except ConfigError:
        if c.config_path or c.env.get("INFRA_CONFIG"):
            raise  # asked for by name: missing is an error, not a fallback
        found = None  # no infra.yaml: the defaults (policy/, main) or the flags
    config = load_config(found) if found is not None else None
    code = run_policy_test(
        plan_json if plan_json.is_absolute() else c.cwd / plan_json,
        config=config,
        cwd=c.cwd,
        policy=[p if p.is_absolute() else c.cwd / p for p in policy or ()],
        namespaces=namespace or (),
        console=c.console,
    )
    _done(code)


def _markdown(c: Invocation, config: Config, runs: Any, wanted: bool, *, applied: bool) -> None:
    if wanted:
        from .commands.preview import preview

        sys.stdout.write(preview(config, runs, c.actions, _utcnow(), applied=applied) + "\n")


@app.command()
def verify(
    ctx: typer.Context,
    layers: LayersArg = None,
    all_layers: Annotated[
        bool, typer.Option("--all", help="Scan every layer (the default).")
    ] = False,
    jobs: JobsOpt = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 3 when any layer drifted.")
    ] = False,
    report_issues: Annotated[
        bool,
        typer.Option(
            "--report-issues",
            help="Keep one GitHub issue per drifted layer (the scheduled scan; needs GITHUB_*).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drift scan: plan every layer and report the ones that differ from their state."""
    from .flows.verify import drift_table, scan

    c = _ctx(ctx)
    if report_issues:
        from .adapters.github.client import GitHub
        from .flows.driftscan import run_drift_scan
        from .flows.job import Job

        config = c.config()
        with GitHub.from_env(c.env) as github:
            job = Job(config, c.env, c.actions, github, c.console, _utcnow)
            _done(run_drift_scan(job, apply=config.drift.auto_apply))
    console = _error_console(c) if as_json else c.console
    report = scan(
        c.config(),
        [] if all_layers else layers or [],
        env=c.env,
        console=console,
        jobs=jobs,
        values=as_json,
        text=False,
    )
    console.print(drift_table(report))
    code = report.exit_code(detailed=detailed_exitcode)
    _json(as_json, "verify", report.runs, code)
    _done(code)


@app.command()
def layers(
    ctx: typer.Context,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed", help="Only the layers the job's pull request touches (GitHub Actions)."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON list, not a line each.")
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph", help="Show what each layer waits for (depends_on and Terragrunt's)."
        ),
    ] = False,
    graph_format: Annotated[
        GraphFormat, typer.Option("--format", help="With --graph: text, or a Mermaid chart.")
    ] = GraphFormat.TEXT,
) -> None:
    """List the layers in `order` (the scale-out workflow's matrix; also the step output
    `layers` in GitHub Actions), or with --graph the order applies follow."""
    from .flows.matrix import as_json as to_json
    from .flows.matrix import run_layers

    c = _ctx(ctx)
    if graph:
        from .core.layer_graph import render_mermaid, render_text
        from .flows.dependencies import layer_graph

        found = layer_graph(c.config())
        text = render_mermaid(found) if graph_format is GraphFormat.MERMAID else render_text(found)
        c.console.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    # stdout carries the list alone, so that a shell can capture it; the log goes to stderr.
    names = run_layers(
        c.config(), changed=changed, env=c.env, actions=c.actions, console=_error_console(c)
    )
    text = to_json(names) if as_json else "\n".join(names)
    sys.stdout.write(f"{text}\n" if text else "")


@dashboard_app.command("refresh")
def dashboard_refresh(
    ctx: typer.Context,
    results_dir: Annotated[
        Path,
        typer.Option(
            "--results-dir", help="Where the plan jobs' results were gathered.", metavar="DIR"
        ),
    ],
) -> None:
    """Record the scale-out plan jobs' results on the pull request's dashboard."""
    from .flows.matrix import refresh_dashboard

    c = _ctx(ctx)
    _done(
        refresh_dashboard(
            c.config(),
            c.cwd / results_dir,
            env=c.env,
            actions=c.actions,
            console=c.console,
            clock=_utcnow,
        )
    )


@app.command()
def event(ctx: typer.Context) -> None:
    """Handle the GitHub Actions event of this job (what ci.yml runs)."""
    from .commands.event import run_event

    c = _ctx(ctx)
    _done(run_event(c.env, c.actions, c.console, c.config, _utcnow))


def _utcnow() -> datetime:
    # Imported on the first tick: flows.session pulls in the GitHub client (~150 ms), which
    # an ignored event never needs.
    from .flows.job import utcnow

    return utcnow()


@app.command()
def health(ctx: typer.Context) -> None:
    """Probe the services declared under `health:` (alias: `infra dig`)."""
    from .flows.health import run_health

    c = _ctx(ctx)
    _done(run_health(c.config(), env=c.env, console=c.console).exit_code)


@app.command(name="dig", hidden=True)
def dig(ctx: typer.Context) -> None:
    """The pre-migration name of `infra health`."""
    health(ctx)


@app.command()
def e2e(
    ctx: typer.Context,
    suite: Annotated[str | None, typer.Argument(help="Suite name (default: smoke).")] = None,
) -> None:
    """Run an end-to-end suite declared under `e2e:` and report its result."""
    from .flows.e2e import run_e2e

    c = _ctx(ctx)
    _done(run_e2e(c.config(), suite, env=c.env, console=c.console).exit_code)


@app.command()
def review(
    ctx: typer.Context,
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
) -> None:
    """AI review of a pull request, posted as a PR review (alias: `@claude`)."""
    from .flows.comment import review_pr

    c = _ctx(ctx)
    _done(review_pr(c.config(), pr, env=c.env, actions=c.actions, console=c.console))


@app.command()
def init(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Repository (or infra) root.")] = Path(),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    matrix: Annotated[
        bool, typer.Option("--matrix", help="Write the scale-out ci.yml (a job per layer).")
    ] = False,
    default_branch: Annotated[
        str | None, typer.Option("--default-branch", help="Branch applies run on.")
    ] = None,
    workflows_only: Annotated[
        bool, typer.Option("--workflows-only", help="Only (re)write the workflows.")
    ] = False,
    only_config: Annotated[
        bool,
        typer.Option("--only-config", help="Write infra.yaml only (you keep your workflows)."),
    ] = False,
    long: Annotated[
        bool, typer.Option("--long", help="Write ci.yml with every step spelled out.")
    ] = False,
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="The GitHub Action as OWNER/REPO@REF (a fork, or a commit SHA; "
            "default: the installed version's tag).",
            metavar="OWNER/REPO@REF",
        ),
    ] = "",
) -> None:
    """Find the root modules, propose layers, write infra.yaml, ci.yml and docs.yml."""
    from .commands.init import init_repo

    c = _ctx(ctx)
    _done(
        init_repo(
            c.cwd / directory,
            force=force,
            console=c.console,
            matrix=matrix,
            default_branch=default_branch,
            workflows_only=workflows_only,
            env=c.env,
            long=long,
            only_config=only_config,
            action=action,
        )
    )


@migrate_app.command("atlantis")
def migrate_atlantis(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="atlantis.yaml, or the repo holding it.")] = Path(),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="infra.yaml to write.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    no_workflows: Annotated[
        bool, typer.Option("--no-workflows", help="Do not write ci.yml / docs.yml.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the migration report here.")
    ] = None,
    server_config: Annotated[
        Path | None,
        typer.Option(
            "--server-config",
            help="Atlantis's server-side repos.yaml (or Helm values with repoConfig); "
            "default: the one found in the repository.",
        ),
    ] = None,
) -> None:
    """Translate atlantis.yaml into infra.yaml and list what can be deleted."""
    from .commands.migrate import migrate_atlantis as run_migrate

    c = _ctx(ctx)
    _done(
        run_migrate(
            c.cwd / path,
            output=output,
            force=force,
            console=c.console,
            workflows=not no_workflows,
            report=report,
            env=c.env,
            server_config=None if server_config is None else c.cwd / server_config,
        )
    )


@config_app.callback(invoke_without_command=True)
def config_show(ctx: typer.Context) -> None:
    """Print the resolved infra.yaml."""
    if ctx.invoked_subcommand is not None:
        return
    import yaml

    c = _ctx(ctx)
    config = c.config()
    from .config_models import dump

    data = dump(config)
    c.console.print(f"# {config.source or config.root / 'infra.yaml'}", markup=False)
    c.console.print(yaml.safe_dump(data, sort_keys=False), markup=False)


@config_app.command("engines")
def config_engines(ctx: typer.Context) -> None:
    """Print the engines the layers use, one a line (the GitHub Action installs these)."""
    config = _ctx(ctx).config()
    used = sorted({layer.engine.value for layer in config.ordered_layers})
    sys.stdout.write("".join(f"{name}\n" for name in used))


@config_app.command("schema")
def config_schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of infra.yaml (for editor completion)."""
    import json

    from .config import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    console: Console | None = None,
    cwd: Path | None = None,
) -> int:
    """Run the CLI in-process and return its exit code (tests call this directly)."""
    obj = Invocation(env=os.environ if env is None else env, _console=console)
    if cwd is not None:
        obj.cwd = cwd
    args = list(argv) if argv is not None else sys.argv[1:]
    call = parse_hot(args)
    if call is not None:  # the console script takes these before importing this module
        return outcome(lambda: run_hot(call, obj.env, obj.cwd, obj.console), obj.env)

    def cli() -> int:
        # Standalone mode: typer (with the click it vendors) prints its own usage errors and
        # exits 2, turns Ctrl-C into 130, and turns `typer.Exit(code)` into `SystemExit(code)`.
        # Only our exceptions come through to `outcome`.
        app(args=args, prog_name="infra", standalone_mode=True, obj=obj)
        return ExitCode.OK  # not reached: standalone mode ends with SystemExit

    return outcome(cli, obj.env)


def _error_console(obj: Invocation) -> Console:
    return error_console()
