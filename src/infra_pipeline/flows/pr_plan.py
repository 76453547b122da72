"""A pull request's CI Validate and plan: on open/push (touched layers) and on `/plan`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.console import Console

from ..adapters import process
from ..adapters.actions_env import annotation, require_workspace_at
from ..adapters.git_changes import changed_files
from ..adapters.locks import Holder
from ..adapters.terminal_ui import results_table
from ..adapters.terragrunt_units import terragrunt_units
from ..config import Config, Engine, Layer
from ..core.changes import LayerSpec, analyse_changes
from ..core.custom_steps import StepContext
from ..core.dashboard import steps as dash
from ..core.state_lock import lock_reply
from ..core.unit_reads import UnitIndex
from ..errors import ExitCode
from ..models import LayerRun, Outcome
from .plan import plan_with_progress
from .policy_check import PolicyCheck, log_policies
from .session import Session
from .validate import check_layers, ci_verdict, workflow_annotations


def touched_layers(s: Session) -> list[Layer]:
    """The layers the PR's changed files touch (paths, `watch` globs, local modules, and the
    files Terragrunt says a unit includes or reads)."""
    return layers_touched_by(s.config, pull_files(s), s.console, env=s.env, units=s.units)


def pull_files(s: Session) -> list[str]:
    """The PR's changed files as GitHub lists them: from `git diff` when the checkout has both
    commits, else from the API (a shallow clone). A base that is behind its branch only widens
    the diff (never narrows it), so a stale `base.sha` plans too much, never too little."""
    files = changed_files(s.config.root, s.pr.base_sha, s.pr.head_sha, s.env, since_fork=True)
    return s.github.list_pull_files(s.pr.number) if files is None else files


def layers_touched_by(
    config: Config,
    files: Sequence[str],
    console: Console,
    env: Mapping[str, str] | None = None,
    *,
    units: UnitIndex | None = None,
) -> list[Layer]:
    """The layers `files` (repo-relative) touch; what could not be read is a warning. With
    `env` and a Terragrunt layer, the `terragrunt` on its PATH reports what each unit reads,
    unless the caller has its report already (`units`)."""
    specs = [
        LayerSpec(layer.name, layer.path, layer.order, layer.watch)
        for layer in config.ordered_layers
    ]
    uses_terragrunt = any(layer.engine is Engine.TERRAGRUNT for layer in config.ordered_layers)
    if units is None and env is not None and uses_terragrunt:
        units = terragrunt_units(config.root, env)
    report = analyse_changes(files, specs, config.root, units)
    for warning in report.warnings:
        line = annotation("warning", warning, title="infra change detection")
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return [config.layers[name] for name in report.layers]


def validate_and_plan(
    s: Session, layers: Sequence[Layer], *, validate: bool
) -> tuple[ExitCode, dash.Dashboard]:
    """CI Validate (fmt + validate) then plan `layers`, reporting both on the dashboard.

    `validate`: the automatic run, which always validates `layers` but plans only those with
    autoplan on, and says why the others were not planned. Otherwise (`/plan`) CI Validate runs
    only when it has not passed on this commit yet (the pull_request job never ran, failed, or
    died), so that `/plan` works from wherever the commit stands."""
    require_workspace_at(s.config.root, s.pr.head_sha)
    touched = [layer.name for layer in layers]
    planned = autoplanned(s.config, layers) if validate else list(layers)
    names = [layer.name for layer in planned]
    waiting = [name for name in touched if name not in names]

    def begin(m: dash.Dashboard) -> dash.Dashboard:
        if validate or m.ci.status is not dash.Status.OK:
            return dash.start_stage(m, dash.Stage.CI, s.run_id, s.clock())
        return dash.start_plan(m, names, s.run_id, s.clock())

    m = s.board.update(begin)
    validating = m.ci.status is dash.Status.RUNNING and m.ci.run_id == s.run_id
    if validating:
        ok, detail = _validate(s, layers, planned=names)
        status = dash.Status.OK if ok else dash.Status.FAILED

        def finish_ci(m: dash.Dashboard) -> dash.Dashboard:
            return dash.finish_stage(m, dash.Stage.CI, status, s.run_id, s.clock(), detail)

        if not ok:
            m = s.board.update(finish_ci)
            s.publish(m)
            return ExitCode.FAILURE, m

        def start(m: dash.Dashboard) -> dash.Dashboard:
            # CI's result and the plan's start are one write: each write costs a read too.
            m = finish_ci(m)
            if validate:  # the automatic plan: say why the other layers were not planned
                m = skip_untouched(m, touched, s.clock())
                m = hold_for_plan(m, waiting, s.clock())
            return dash.start_plan(m, names, s.run_id, s.clock())

        s.board.update(start)
    runs = _plan(s, planned)
    if process.cancelled.is_set():
        # The job was cancelled, not the plans failed: leave as a cancelled run does (exit
        # 130), and the caller turns this run's ⏳ rows into ⚠️ rather than ❌ on the way out.
        raise KeyboardInterrupt
    held = s.locks.held() if runs else {}
    base = s.pr.base_sha
    policies = PolicyCheck(s.config, s.github).check_runs(runs)
    log_policies(s.console, policies)

    def record(m: dash.Dashboard) -> dash.Dashboard:
        m = dash.record_plans(m, runs, s.run_id, s.clock(), base_sha=base)
        m = dash.record_policies(m, policies)
        return show_locks(m, held, s.pr.number)

    m = s.board.update(record)
    s.actions.append_summary(dash.step_summary(m, full_plans(runs)))
    locks = [run.lock for run in runs if run.lock is not None]
    if locks:
        s.reply(lock_reply(locks, runs_url(s.actions.run_url)))
    failed = any(r.outcome is Outcome.FAILED for r in runs)
    return (ExitCode.FAILURE if failed else ExitCode.OK), m


def _validate(s: Session, layers: Sequence[Layer], *, planned: Sequence[str]) -> tuple[bool, str]:
    """CI Validate of `layers`, as many at once as plans run; the `planned` ones are
    initialised in full, so that their plan reuses the init."""
    checks = check_layers(s.config, layers, s.env, s.config.jobs, planned=planned, units=s.units)
    for line in workflow_annotations(s.config, checks, s.actions.secrets):
        s.console.print(line, markup=False, highlight=False, soft_wrap=True)
    return ci_verdict(checks)


def _plan(s: Session, layers: Sequence[Layer]) -> list[LayerRun]:
    context = StepContext(pr=s.pr.number, sha=s.pr.head_sha)
    runs = plan_with_progress(
        s.config,
        layers,
        env=s.env,
        console=s.console,
        context=context,
        on_lock_wait=s.show_lock_wait,
    )
    s.console.print(results_table(runs, f"Plan of #{s.pr.number} at {s.pr.head_sha[:7]}"))
    return runs


def runs_url(run_url: str) -> str | None:
    """`…/actions/runs` of this repository, from this run's URL."""
    return run_url.rsplit("/", 1)[0] if "/actions/runs/" in run_url else None


def skip_untouched(m: dash.Dashboard, touched: Sequence[str], now: datetime) -> dash.Dashboard:
    """The automatic plan's other rows say why they were not planned."""
    for layer in m.layers:
        if layer.name not in touched and layer.record is None:
            m = dash.leave_untouched(m, layer.name, now)
    return m


def autoplanned(config: Config, layers: Sequence[Layer]) -> list[Layer]:
    """The layers among `layers` that a push plans by itself (`autoplan`)."""
    return [layer for layer in layers if config.autoplan_for(layer)]


def hold_for_plan(m: dash.Dashboard, held: Sequence[str], now: datetime) -> dash.Dashboard:
    """Touched layers with `autoplan: false` wait for someone to ask for their plan."""
    for name in held:
        m = dash.skip_plan(m, name, f"not planned automatically: comment /plan {name}", now)
    return m


def show_locks(m: dash.Dashboard, held: Mapping[str, Holder], pr: int) -> dash.Dashboard:
    """Each row shows the lock another pull request holds on its layer, if any."""
    for layer in m.layers:
        holder = held.get(layer.name)
        note = "" if holder is None or holder.pr == pr else holder.short
        if note != layer.lock:
            m = dash.set_lock(m, layer.name, note)
    return m


def full_plans(runs: Sequence[LayerRun]) -> dict[str, str]:
    """Every plan in full by layer, for the job summary (the dashboard shortens long ones)."""
    plans = {}
    for run in runs:
        if run.plan is not None:
            plans[run.layer] = run.plan.text
        elif run.error:
            plans[f"{run.layer} failed"] = run.error
    return plans
