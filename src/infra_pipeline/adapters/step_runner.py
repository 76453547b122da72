"""Running one layer's custom steps (`steps:` in infra.yaml) at one stage.

Each step runs through `process.run` like the engine does (its own process group, the
timeout, cancellation forwarded as SIGINT), in the layer's directory, with the engine's
environment plus the `INFRA_*` variables (`core/custom_steps.step_env`). Nothing goes through
a shell unless the step says `shell: true`. Its output streams into the job log and its tail
is kept for the dashboard, both redacted with the engine's secrets. For `post_plan` and
`pre_apply` the plan's JSON is written to a private temporary file for the stage and removed
after it: it holds sensitive values in clear text.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Stage, Step
from ..core.custom_steps import (
    StepContext,
    blocks,
    describe,
    icon,
    step_env,
    tail,
    wants_plan_json,
)
from ..core.redact import redact
from ..errors import InfraError
from ..models import StepOutcome, StepResult
from . import process

if TYPE_CHECKING:
    from .terraform import TerraformEngine

Runner = Callable[..., process.ProcessResult]
# A step that ignores SIGINT past its timeout is killed this much later.
_GRACE_SECONDS = 10.0


def run_stage(
    engine: TerraformEngine,
    stage: Stage,
    steps: tuple[Step, ...],
    context: StepContext,
    *,
    planfile: Path | None,
    runner: Runner = process.run,
) -> tuple[StepResult, ...]:
    """Run `steps` in order; a blocking step that does not pass stops the stage (the steps
    after it do not run). The results, in order, of the steps that ran."""
    if not steps:
        return ()
    sha = context.sha or _head(engine.workdir, engine.env, runner)
    results: list[StepResult] = []
    with _plan_json(engine, stage, planfile) as json_path:
        env = {
            **engine.env,
            **step_env(
                root=engine.config.root,
                layer=engine.layer.name,
                layer_dir=engine.workdir,
                stage=stage,
                context=StepContext(context.pr, sha),
                planfile=planfile,
                plan_json=json_path,
            ),
        }
        for step in steps:
            result = run_step(engine, stage, step, env, runner)
            results.append(result)
            if blocks(result):
                break
    return tuple(results)


def run_step(
    engine: TerraformEngine,
    stage: Stage,
    step: Step,
    env: dict[str, str],
    runner: Runner = process.run,
) -> StepResult:
    """One step, never raising for the step's own failure: it is a result."""
    lines: list[str] = []

    def line(text: str) -> None:
        lines.append(text)
        engine.log_line(f"[{stage.value}: {step.name}] {text}")

    engine.log_line(f"[{stage.value}: {step.name}] running {' '.join(step.argv)}")
    try:
        done = runner(
            step.argv,
            cwd=engine.workdir,
            env=env,
            timeout=step.timeout_seconds,
            on_line=line,
            grace=_GRACE_SECONDS,
        )
    except InfraError as exc:  # it could not be started: a missing tool is its failure
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        engine.log_line(f"[{stage.value}: {step.name}] {message}")
        return _result(stage, step, StepOutcome.FAILED, None, 0.0, message, engine)
    if done.cancelled:
        outcome = StepOutcome.CANCELLED
    elif done.timed_out:
        outcome = StepOutcome.TIMED_OUT
    else:
        outcome = StepOutcome.PASSED if done.returncode == 0 else StepOutcome.FAILED
    code = None if outcome in (StepOutcome.CANCELLED, StepOutcome.TIMED_OUT) else done.returncode
    result = _result(stage, step, outcome, code, done.duration, "\n".join(lines), engine)
    engine.log_line(f"[{stage.value}: {step.name}] {icon(result)} {describe(result)}")
    return result


def _result(
    stage: Stage,
    step: Step,
    outcome: StepOutcome,
    code: int | None,
    seconds: float,
    output: str,
    engine: TerraformEngine,
) -> StepResult:
    return StepResult(
        stage=stage,
        name=step.name,
        outcome=outcome,
        blocking=step.blocking,
        exit_code=code,
        seconds=round(seconds, 1),
        timeout=step.timeout,
        tail=tail(redact(output, engine.secrets)),
    )


@contextlib.contextmanager
def _plan_json(
    engine: TerraformEngine, stage: Stage, planfile: Path | None
) -> Iterator[Path | None]:
    if planfile is None or not wants_plan_json(stage):
        yield None
        return
    text = engine.plan_json(planfile)
    # Only this user may read it (mkdtemp makes the directory 0700), and it is gone after the
    # stage, whatever the steps did. (tempfile, and the `random` it imports, only here: a plan
    # imports this module before its first Terraform command.)
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix=f"infra-plan-{engine.layer.name}-"))
    path = directory / "plan.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _head(workdir: Path, env: dict[str, str], runner: Runner) -> str:
    """The checkout's commit, for `$INFRA_SHA` when the run did not say (a local run)."""
    try:
        done = runner(["git", "rev-parse", "HEAD"], cwd=workdir, env=env, timeout=30)
    except InfraError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
