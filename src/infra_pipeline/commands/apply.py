"""`infra apply [LAYER...|all]`: plan and apply layers along their dependency graph.

On a terminal it asks first, as `terraform apply` does: each layer's plan is shown and
applied only after a `yes`, one layer at a time in the graph's order, so that a later layer's
plan sees what the earlier ones changed and two questions never overlap. `--auto-approve`
(CI, scripts) applies without asking, `apply_parallelism` layers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.console import Console
from rich.markup import escape

from ..adapters.terminal_ui import Progress, progress, results_table
from ..adapters.terraform import TerraformEngine
from ..config import Config, Layer
from ..errors import ExitCode, InfraError
from ..flows.dependencies import layer_graph
from ..flows.pipeline import (
    PlanForApply,
    apply_layers,
    exit_code,
    make_engine_factory,
    plan_fresh,
    select_layers,
)
from ..flows.plan import print_locks, show_plan
from ..models import LayerRun, PlanResult

Ask = Callable[[str], str]  # shows a prompt and returns the line typed (EOFError: none)


def run_apply(
    config: Config,
    names: Sequence[str],
    *,
    env: Mapping[str, str],
    console: Console,
    plan_for: PlanForApply = plan_fresh,
    ask: Ask | None = None,
) -> tuple[ExitCode, list[LayerRun]]:
    """Apply `names` along the graph; with `ask`, each layer with changes only after a `yes`."""
    layers = select_layers(config, names)
    with progress(console, "applying", env) as view:
        runs = apply_layers(
            layers,
            make_engine_factory(config, env, view.line),
            graph=layer_graph(config),
            on_failure=config.on_failure,
            parallelism=config.apply_parallelism if ask is None else 1,
            plan_for=plan_for
            if ask is None
            else _approved(config, env, plan_for, console, view, ask),
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


def _approved(
    config: Config,
    env: Mapping[str, str],
    plan_for: PlanForApply,
    console: Console,
    view: Progress,
    ask: Ask,
) -> PlanForApply:
    def plan_then_ask(layer: Layer, engine: TerraformEngine) -> PlanResult:
        plan = plan_for(layer, engine)
        if not plan.has_changes:
            return plan  # nothing to approve
        with view.paused():
            console.rule(f"[bold]{escape(layer.name)}[/] {plan.counts.short()}")
            show_plan(config, layer, plan, env=env, console=console)
            console.print(
                f"\nDo you want to apply these changes to [bold]{escape(layer.name)}[/]?\n"
                "  Only 'yes' will be accepted to approve.\n"
            )
            try:
                answer = ask("  Enter a value: ")
            except EOFError:
                answer = ""
        if answer.strip() != "yes":
            raise InfraError(f"apply of `{layer.name}` cancelled: the answer was not `yes`")
        return plan

    return plan_then_ask
