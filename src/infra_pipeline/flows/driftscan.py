"""The scheduled drift scan (`schedule` event, `infra verify --all --report-issues`).

Scan every layer; apply the drift only when asked (`drift.auto_apply`), in order and under the
layer locks exactly as after a merge; then keep exactly one open issue per drifted layer and
close the issues of layers found back in sync.
"""

from __future__ import annotations

from ..core.summary import ReconcileRun, Trigger, render_scan_summary
from .aftermerge import exit_code
from .job import Job
from .reconcile import audit_applies, print_reports, reconcile, sync_drift_issues
from .verify import scan


def run_drift_scan(job: Job, *, apply: bool) -> int:
    """Scan, apply the drift when `apply` (the caller passes `config.drift.auto_apply`), and
    update the drift issues. Non-zero only when a scan or an apply failed: drift itself is
    reported in the issues, not as a red run."""
    config, github, env, console = job.config, job.github, job.env, job.console
    origin = ReconcileRun(job.actions.sha, job.actions.run_url, job.clock(), Trigger.SCHEDULED)
    runs = scan(config, [], env=env, console=console).runs
    result = reconcile(job, runs, origin, apply=apply)
    print_reports(console, result.reports, "Drift scan")
    job.actions.append_summary(render_scan_summary(result.reports, origin))
    audit_applies(job, result, origin, command="apply-drift", pr=None)
    sync_drift_issues(config, github, result.reports, origin, console=console)
    return exit_code(result.reports, None)
