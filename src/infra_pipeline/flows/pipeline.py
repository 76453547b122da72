"""Planning layers in parallel, and applying them along the layers' dependency graph.

This module decides *what runs when*; the engine, the GitHub edge and the terminal are passed
in. A failed apply stops the rest (`on_failure: stop`, the default) or only the layers that
depend on it (`skip_dependents`): those are reported as skipped and never touched.

Custom steps run around each layer's plan (`pre_plan`, `post_plan`) and apply (`pre_apply`,
`post_apply`, only when there is something to apply); a blocking one that does not pass stops
that layer like a failed plan or apply would (`StepsBlocked`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from msgspec.structs import replace

from ..adapters import process
from ..adapters.terraform import (
    READ_ALL,
    ApplyResult,
    LockWaitSink,
    PlanReads,
    StateLockedError,
    TerraformEngine,
    TerraformFailed,
)
from ..config import Config, Layer, OnFailure, Stage
from ..config_problems import nearest
from ..core.custom_steps import NO_CONTEXT, StepContext, blocked_message, first_block
from ..core.layer_graph import LayerGraph, Scheduler
from ..errors import ExitCode, InfraError
from ..models import LayerRun, Outcome, PlanResult

T = TypeVar("T")
EngineFactory = Callable[[Layer], TerraformEngine]
# Called once per layer before it is applied: returns the plan to apply, or raises InfraError
# (a refusal, e.g. "the plan changed since it was reviewed") which stops the sequence.
PlanForApply = Callable[[Layer, TerraformEngine], PlanResult]
# Applies the plan `plan_for` returned; the default applies its planfile as it is.
ApplyPlan = Callable[[TerraformEngine, PlanResult], ApplyResult]


def select_layers(config: Config, names: Iterable[str]) -> list[Layer]:
    """The layers named (in apply order); no names or `all` means every layer."""
    wanted = [n for n in names if n]
    if not wanted or "all" in wanted:
        return config.ordered_layers
    unknown = [n for n in wanted if n not in config.layers]
    if unknown:
        raise InfraError(
            f"unknown layer `{unknown[0]}`{did_you_mean(unknown[0], config.layers)}",
            f"layers are: {', '.join(config.layers)}, or `all`",
            ExitCode.USAGE,
        )
    return [layer for layer in config.ordered_layers if layer.name in wanted]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    near = nearest(word, choices)
    return f" (did you mean `{near}`?)" if near else ""


class StepsBlocked(InfraError):
    """A blocking custom step did not pass: its layer stops there."""


def run_steps(engine: TerraformEngine, stage: Stage, planfile: Path | None = None) -> None:
    """The layer's custom steps at `stage`, recorded in `engine.steps_ran`; `StepsBlocked`
    when a blocking one did not pass."""
    steps = engine.config.steps_for(engine.layer, stage)
    if not steps:
        return
    from ..adapters.step_runner import run_stage  # most layers have no steps: not imported

    results = run_stage(engine, stage, steps, engine.context, planfile=planfile)
    engine.steps_ran.extend(results)
    blocked = first_block(results)
    if blocked is not None:
        raise StepsBlocked(
            blocked_message(blocked, engine.layer.name),
            "its output is on the dashboard and in the job log; fix what it reports",
        )


def plan_with_steps(engine: TerraformEngine) -> PlanResult:
    """`pre_plan` steps, the plan, `post_plan` steps (with the plan's JSON)."""
    run_steps(engine, Stage.PRE_PLAN)
    plan = engine.plan()
    run_steps(engine, Stage.POST_PLAN, plan.planfile)
    return plan


def apply_with_steps(
    engine: TerraformEngine, plan: PlanResult, apply_plan: ApplyPlan | None = None
) -> ApplyResult:
    """`pre_apply` steps (with the plan's JSON), the apply, and after a successful one the
    `post_apply` steps. A blocked `pre_apply` raises: nothing was applied. A blocked
    `post_apply` is a failed result that says the change is applied."""
    assert plan.planfile is not None
    run_steps(engine, Stage.PRE_APPLY, plan.planfile)
    result = engine.apply(plan.planfile) if apply_plan is None else apply_plan(engine, plan)
    if not result.ok:
        return result
    try:
        run_steps(engine, Stage.POST_APPLY, plan.planfile)
    except StepsBlocked as exc:
        return replace(result, ok=False, error=exc.message)
    return result


def plan_layers(
    layers: Sequence[Layer],
    engine_for: EngineFactory,
    *,
    jobs: int,
    apart: Mapping[str, frozenset[str]] | None = None,
    on_start: Callable[[Layer], None] = lambda layer: None,
    on_done: Callable[[LayerRun], None] = lambda run: None,
) -> list[LayerRun]:
    """Plan `layers`, at most `jobs` at once and never two that must run `apart`
    (`dependencies.apart_layers`); results come back in the given order. `on_start` and
    `on_done` are called from this thread only."""

    def one(layer: Layer) -> LayerRun:
        started = time.monotonic()
        engine: TerraformEngine | None = None
        try:
            engine = engine_for(layer)
            plan = plan_with_steps(engine)
            return LayerRun(
                layer.name,
                Outcome.CHANGES if plan.has_changes else Outcome.OK,
                time.monotonic() - started,
                plan=plan,
                steps=tuple(engine.steps_ran),
            )
        except InfraError as exc:
            return _failed(layer, exc, started, engine)

    by_name = {layer.name: layer for layer in layers}
    scheduler = _side_by_side(layers, jobs, apart)
    runs = _run_along(scheduler, by_name, one, on_start=on_start, on_done=on_done, cancel=False)
    order = {layer.name: index for index, layer in enumerate(layers)}
    return sorted(runs, key=lambda run: order[run.layer])


def each_layer(
    layers: Sequence[Layer],
    work: Callable[[Layer], T],
    *,
    jobs: int,
    apart: Mapping[str, frozenset[str]] | None = None,
) -> list[T]:
    """`work(layer)` for each layer, scheduled as `plan_layers` schedules plans (at most
    `jobs` at once, never two that must run `apart`); results in the given order."""
    done: dict[str, T] = {}

    def one(layer: Layer) -> LayerRun:
        done[layer.name] = work(layer)
        return LayerRun(layer.name, Outcome.OK)

    by_name = {layer.name: layer for layer in layers}
    scheduler = _side_by_side(layers, jobs, apart)
    _run_along(
        scheduler, by_name, one, on_start=lambda _: None, on_done=lambda _: None, cancel=False
    )
    return [done[layer.name] for layer in layers]


def _ignore(_: object) -> None:
    pass


def _side_by_side(
    layers: Sequence[Layer], jobs: int, apart: Mapping[str, frozenset[str]] | None
) -> Scheduler:
    # Plans (and CI Validate's checks) wait for no other layer: the graph has no edges, only
    # the pairs kept apart, and a failure skips nothing.
    by_name = {layer.name: layer for layer in layers}
    graph = LayerGraph(
        {name: frozenset() for name in by_name},
        {layer.name: index for index, layer in enumerate(layers)},
        apart=apart or {},
    ).restricted(by_name)
    return Scheduler(graph, OnFailure.SKIP_DEPENDENTS, max(1, jobs))


def apply_layers(
    layers: Sequence[Layer],
    engine_for: EngineFactory,
    *,
    graph: LayerGraph,
    plan_for: PlanForApply,
    apply_plan: ApplyPlan | None = None,
    on_failure: OnFailure = OnFailure.STOP,
    parallelism: int = 1,
    on_start: Callable[[Layer], None] = lambda layer: None,
    on_done: Callable[[LayerRun], None] = lambda run: None,
) -> list[LayerRun]:
    """Apply `layers` along `graph`: a layer starts only after every layer it depends on (in
    this run) succeeded, at most `parallelism` at once. A failure or refusal stops the rest
    (`on_failure: stop`) or only what depends on it (`skip_dependents`); a skipped layer says
    which failure skipped it. A layer whose plan has no changes is OK without running apply.

    `on_start` and `on_done` are called from this thread only; the plans and applies run on
    worker threads. Results come back in the order the layers finished, skipped ones last."""
    by_name = {layer.name: layer for layer in layers}
    scheduler = Scheduler(graph.restricted(by_name), on_failure, parallelism)

    def one(layer: Layer) -> LayerRun:
        started = time.monotonic()
        engine = engine_for(layer)
        try:
            plan = plan_for(layer, engine)
            if plan.has_changes and plan.planfile is not None:
                result = apply_with_steps(engine, plan, apply_plan)
            else:
                result = ApplyResult(ok=True, output="no changes")
        except InfraError as exc:
            return _failed(layer, exc, started, engine)
        return LayerRun(
            layer.name,
            Outcome.OK if result.ok else Outcome.FAILED,
            time.monotonic() - started,
            plan=plan,
            error=result.error,
            log=result.output,
            lock=result.lock,
            diagnostics=result.diagnostics,
            summary=result.summary,
            steps=tuple(engine.steps_ran),
        )

    return _run_along(scheduler, by_name, one, on_start=on_start, on_done=on_done, cancel=True)


def _run_along(
    scheduler: Scheduler,
    by_name: Mapping[str, Layer],
    one: Callable[[Layer], LayerRun],
    *,
    on_start: Callable[[Layer], None],
    on_done: Callable[[LayerRun], None],
    cancel: bool,
) -> list[LayerRun]:
    """Run `one` on each layer as `scheduler` lets it start, each on a thread of its own (the
    scheduler never lets more than its `parallelism` run); the callbacks and the scheduler
    stay on this thread, and what `one` raises is raised here. With `cancel`, a cancelled job
    starts nothing more. Runs come back in the order they finished, skipped layers last.

    Plain threads and a queue, not `concurrent.futures`: its import, with the `logging` it
    imports, was a twentieth of the time before the first Terraform command."""
    runs: list[LayerRun] = []
    ended: queue.Queue[tuple[str, LayerRun | BaseException]] = queue.Queue()

    def along(layer: Layer) -> None:
        try:
            ended.put((layer.name, one(layer)))
        except BaseException as exc:  # handed to the scheduling thread, as a Future would
            ended.put((layer.name, exc))

    running: dict[str, threading.Thread] = {}
    try:
        while not scheduler.finished:
            if cancel and process.cancelled.is_set():
                scheduler.cancel("not applied: the run was cancelled")
            for name in scheduler.ready():
                scheduler.start(name)
                on_start(by_name[name])
                running[name] = threading.Thread(target=along, args=(by_name[name],))
                running[name].start()
            if not running:
                break
            name, result = ended.get()
            running.pop(name).join()
            if isinstance(result, BaseException):
                raise result
            scheduler.finish(result.layer, result.outcome in (Outcome.OK, Outcome.CHANGES))
            runs.append(result)
            on_done(result)
    finally:
        for thread in running.values():  # as a pool's shutdown: the others end first
            thread.join()
    for name, reason in scheduler.skipped.items():
        skipped = LayerRun(name, Outcome.SKIPPED, error=reason)
        runs.append(skipped)
        on_done(skipped)
    return runs


def _failed(
    layer: Layer, exc: InfraError, started: float, engine: TerraformEngine | None
) -> LayerRun:
    """The run of a layer stopped by `exc` before anything was applied."""
    return LayerRun(
        layer.name,
        Outcome.FAILED,
        time.monotonic() - started,
        error=exc.message,
        lock=exc.lock if isinstance(exc, StateLockedError) else None,
        diagnostics=exc.diagnostics if isinstance(exc, TerraformFailed) else (),
        steps=tuple(engine.steps_ran) if engine is not None else (),
    )


def plan_fresh(layer: Layer, engine: TerraformEngine) -> PlanResult:
    """The default `plan_for`: plan right before applying, so the plan sees earlier layers.
    Nobody reviewed a plan before (a local `infra apply`), so the plan's steps run too."""
    return plan_with_steps(engine)


def exit_code(runs: Sequence[LayerRun], *, detailed: bool = False) -> ExitCode:
    if any(r.outcome in (Outcome.FAILED, Outcome.SKIPPED) for r in runs):
        return ExitCode.FAILURE
    if detailed and any(r.outcome is Outcome.CHANGES for r in runs):
        return ExitCode.CHANGES
    return ExitCode.OK


def make_engine_factory(
    config: Config,
    env: Mapping[str, str],
    on_line: Callable[[str, str], None] | None = None,
    context: StepContext = NO_CONTEXT,
    on_lock_wait: LockWaitSink | None = None,
    reads: PlanReads = READ_ALL,
) -> EngineFactory:
    """Engines for `config`'s layers; `on_line` gets each layer's output lines, `on_lock_wait`
    the holder of a state lock a layer starts waiting for (both on the engine's thread)."""

    def factory(layer: Layer) -> TerraformEngine:
        sink = (lambda line: on_line(layer.name, line)) if on_line else None
        return TerraformEngine(
            config,
            layer,
            env=env,
            on_line=sink,
            context=context,
            on_lock_wait=on_lock_wait,
            reads=reads,
        )

    return factory
