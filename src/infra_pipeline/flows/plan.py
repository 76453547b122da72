"""`infra plan [LAYER...|all]`: plan layers in parallel and show what would change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..adapters.terminal_ui import progress, results_table, terraform_colour, write_as_is
from ..adapters.terraform import READ_ALL, LockWaitSink, PlanReads, PlanText
from ..config import Config, Layer
from ..core.custom_steps import NO_CONTEXT, StepContext
from ..core.state_lock import what_to_do
from ..errors import ExitCode, InfraError
from ..models import LayerRun, PlanResult
from .dependencies import apart_layers
from .pipeline import exit_code, make_engine_factory, plan_layers, select_layers

if TYPE_CHECKING:
    from rich.console import Console


def plan_with_progress(
    config: Config,
    layers: Sequence[Layer],
    *,
    env: Mapping[str, str],
    console: Console,
    jobs: int | None = None,
    verb: str = "planning",
    context: StepContext = NO_CONTEXT,
    on_lock_wait: LockWaitSink | None = None,
    reads: PlanReads = READ_ALL,
) -> list[LayerRun]:
    """Plan `layers` in parallel (but those that must run apart one after another) while the
    terminal shows each one's progress; `context` is what their custom steps are told (the PR
    and commit), `on_lock_wait` who holds a state lock a plan starts waiting for, `reads` what
    the caller reads of each plan."""
    with progress(console, verb, env) as view:
        return plan_layers(
            layers,
            make_engine_factory(config, env, view.line, context, on_lock_wait, reads),
            jobs=jobs or config.jobs,
            apart=apart_layers(config),
            on_start=view.start,
            on_done=view.done,
        )


def run_plan(
    config: Config,
    names: Sequence[str],
    *,
    env: Mapping[str, str],
    console: Console,
    jobs: int | None = None,
    detailed_exitcode: bool = False,
    context: StepContext = NO_CONTEXT,
    values: bool = True,
) -> tuple[ExitCode, list[LayerRun]]:
    """Plan, print each plan with changes, then the results. Without `values` (nothing after
    this reads the plans' fingerprints or JSON: no `--json`, `--markdown` or result files) a
    plan with changes costs one `show` fewer: its text, rendered for this console, is all
    that is printed."""
    reads = READ_ALL
    if not values:
        colour = terraform_colour(console, env)
        reads = PlanReads(values=False, text=PlanText.COLOUR if colour else PlanText.PLAIN)
    runs = plan_with_progress(
        config,
        select_layers(config, names),
        env=env,
        console=console,
        jobs=jobs,
        context=context,
        reads=reads,
    )
    for run in runs:
        if run.plan is not None and run.plan.has_changes:
            console.rule(f"[bold]{run.layer}[/] {run.plan.counts.short()}")
            if reads.values:
                show_plan(config, config.layers[run.layer], run.plan, env=env, console=console)
            else:
                write_as_is(console, run.plan.text)
    console.print(results_table(runs, "Plan"))
    print_locks(console, runs)
    return exit_code(runs, detailed=detailed_exitcode), runs


def show_plan(
    config: Config, layer: Layer, plan: PlanResult, *, env: Mapping[str, str], console: Console
) -> None:
    """The plan's text; on a terminal, Terraform's own rendering of it, in colour. Written as
    it is: Terraform has laid it out already."""
    if plan.planfile is not None and terraform_colour(console, env):
        engine = make_engine_factory(config, env)(layer)
        try:
            write_as_is(console, engine.render_plan(plan.planfile, colour=True))
            return
        except InfraError:
            pass  # the text without colour says the same
    write_as_is(console, plan.text)


def print_locks(console: Console, runs: Sequence[LayerRun]) -> None:
    """Each state lock that stopped a layer, with what to do about it."""
    locks = [run.lock for run in runs if run.lock is not None]
    for lock in locks:
        console.print(
            f"🔒 {lock.layer}: the state is locked, {lock.describe()}", markup=False, soft_wrap=True
        )
    for line in what_to_do(locks) if locks else ():
        console.print(f"  → {line}", markup=False, highlight=False, soft_wrap=True)
