"""`infra apply [LAYER...|all]`: plan and apply layers one at a time, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console

from ..adapters.terminal_ui import progress, results_table
from ..config import Config
from ..errors import ExitCode
from ..flows.pipeline import (
    PlanForApply,
    apply_layers,
    exit_code,
    make_engine_factory,
    plan_fresh,
    select_layers,
)
from ..flows.plan import print_locks
from ..models import LayerRun


def run_apply(
    config: Config,
    names: Sequence[str],
    *,
    env: Mapping[str, str],
    console: Console,
    plan_for: PlanForApply = plan_fresh,
) -> tuple[ExitCode, list[LayerRun]]:
    layers = select_layers(config, names)
    with progress(console, "applying", env) as view:
        runs = apply_layers(
            layers,
            make_engine_factory(config, env, view.line),
            plan_for=plan_for,
            on_start=view.start,
            on_done=view.done,
        )
    for run in runs:
        if run.error:
            console.rule(f"[bold red]{run.layer}[/]")
            console.print(run.error, markup=False, highlight=False)
    console.print(results_table(runs, "Apply"))
    print_locks(console, runs)
    return exit_code(runs), runs
