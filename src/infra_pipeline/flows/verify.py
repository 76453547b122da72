"""`infra verify`: plan every layer and report drift between the code, the state and reality."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from msgspec import Struct

from ..adapters.terraform import PlanReads, PlanText
from ..config import Config
from ..errors import ExitCode
from ..models import LayerRun, Outcome
from .pipeline import select_layers
from .plan import plan_with_progress

if TYPE_CHECKING:
    # rich is imported where the table is drawn, after Terraform's work (`entry._Log`).
    from rich.console import Console
    from rich.table import Table


class DriftReport(Struct, frozen=True):
    runs: tuple[LayerRun, ...]

    @property
    def drifted(self) -> tuple[LayerRun, ...]:
        return tuple(r for r in self.runs if r.outcome is Outcome.CHANGES)

    @property
    def failed(self) -> tuple[LayerRun, ...]:
        return tuple(r for r in self.runs if r.outcome is Outcome.FAILED)

    def exit_code(self, *, detailed: bool = False) -> ExitCode:
        if self.failed:
            return ExitCode.FAILURE
        if detailed and self.drifted:
            return ExitCode.CHANGES
        return ExitCode.OK


def classify(run: LayerRun) -> str:
    """In sync, drifted (outside Terraform and/or in code), or failed: one phrase per layer."""
    if run.outcome is Outcome.FAILED:
        return "failed"
    if run.plan is None or not run.plan.has_changes:
        return "in sync"
    outside = {c.address for c in run.plan.drift}
    in_code = [c for c in run.plan.resource_changes if c.address not in outside]
    parts = []
    if outside:
        parts.append(f"{len(outside)} changed outside Terraform")
    if in_code or run.plan.output_changes:
        parts.append(f"{len(in_code) + len(run.plan.output_changes)} differ from code/inputs")
    return "drifted: " + ", ".join(parts)


def scan(
    config: Config,
    names: Sequence[str],
    *,
    env: Mapping[str, str],
    console: Console,
    jobs: int | None = None,
    values: bool = True,
    text: bool = True,
) -> DriftReport:
    """Plan `layers` for drift. `infra verify` prints only `drift_table` (and with `--json`
    the fingerprints and actions of `show -json`, `values`): it reads no plan `text`, so a
    drifted layer costs no `show -no-color`, and without `values` no `show` at all (the
    plan's `-json` lines have what the table shows). The scheduled scan reads both."""
    layers = select_layers(config, names)
    reads = PlanReads(values=values, text=PlanText.PLAIN if text else PlanText.NONE)
    runs = plan_with_progress(
        config, layers, env=env, console=console, jobs=jobs, verb="scanning", reads=reads
    )
    return DriftReport(tuple(runs))


def drift_table(report: DriftReport) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Drift scan", title_justify="left")
    for column in ("Layer", "Status", "+/~/-", "Resources", "Duration"):
        table.add_column(column)
    for run in report.runs:
        status = classify(run)
        style = "green" if status == "in sync" else "red" if status == "failed" else "yellow"
        resources = ""
        if run.plan is not None:
            resources = ", ".join(c.address for c in run.plan.resource_changes[:5])
            if len(run.plan.resource_changes) > 5:
                resources += f" (+{len(run.plan.resource_changes) - 5} more)"
        elif run.error:
            resources = run.error.splitlines()[0]
        table.add_row(
            escape(run.layer),
            f"[{style}]{escape(status)}[/]",
            run.plan.counts.short() if run.plan else "-",
            escape(resources),
            f"{run.duration:.1f}s",
        )
    return table
