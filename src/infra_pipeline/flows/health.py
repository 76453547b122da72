"""`infra health` (`/health`, `infra dig`): probe the services declared under `health:`."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..adapters.probes import HealthReport, ProbeResult, check_health
from ..config import Config
from ..core import md
from ..core.dashboard.model import Status
from ..errors import InfraError


def run_health(config: Config, *, env: Mapping[str, str], console: Console) -> HealthReport:
    """Run every probe at once, print the result table, return the report (see `exit_code`)."""
    if not config.health:
        raise InfraError(
            "no health probes are declared in infra.yaml",
            "add a `health:` section (http, tcp, dns, kubernetes or command probes)",
        )
    with console.status(f"Probing {len(config.health)} service(s)…"):
        report = check_health(config.health, env=env, root=config.root)
    console.print(_table(report))
    return report


def _table(report: HealthReport) -> Table:
    table = Table(title="Health", title_justify="left")
    for column in ("Probe", "Kind", "Result", "Latency", "Detail"):
        table.add_column(column, justify="right" if column == "Latency" else "left")
    for r in report.results:
        # Text(): a detail is the service's words, never rich markup.
        table.add_row(
            Text(r.name),
            r.kind.value,
            Text("ok", style="green") if r.ok else Text("failed", style="red"),
            _latency(r),
            Text(_detail(r)),
        )
    return table


def render_markdown(report: HealthReport) -> str:
    """The PR reply: a headline, then one table row per probe."""
    failed = report.failed
    total = len(report.results)
    headline = (
        f"### 🩺 Health: ✅ {total}/{total} probes ok"
        if not failed
        else f"### 🩺 Health: ❌ {len(failed)} of {total} probes failed"
    )
    rows = [
        "| Probe | Kind | Result | Latency | Detail |",
        "|:---|:---|:---:|---:|:---|",
        *(
            f"| {md.cell(r.name)} | {r.kind.value} | {'✅' if r.ok else '❌'} | "
            f"{_latency(r)} | {md.cell(_detail(r))} |"
            for r in report.results
        ),
    ]
    return "\n".join([headline, "", *rows])


def dashboard_cell(report: HealthReport) -> tuple[Status, str]:
    """The dashboard's `Health` row (for `dashboard.finish_stage`): OK or FAILED, a few words."""
    failed = report.failed
    if not failed:
        return Status.OK, f"{len(report.results)}/{len(report.results)} probes ok"
    names = ", ".join(r.name for r in failed[:3]) + (" …" if len(failed) > 3 else "")
    return Status.FAILED, f"{len(failed)}/{len(report.results)} failed: {names}"


def _latency(result: ProbeResult) -> str:
    return f"{result.latency_ms:.0f} ms"


def _detail(result: ProbeResult) -> str:
    retried = f" (after {result.attempts} attempts)" if result.attempts > 1 else ""
    return result.detail + retried
