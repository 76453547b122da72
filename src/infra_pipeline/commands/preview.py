"""`--markdown`: the dashboard a pull request would get for a local run, printed, not posted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..adapters.actions_env import ActionsEnv, workspace_sha
from ..config import Config
from ..core.dashboard import steps as dash
from ..models import LayerRun, Outcome

_NO_COMMIT = "0" * 40


def preview(
    config: Config,
    runs: Sequence[LayerRun],
    actions: ActionsEnv,
    now: datetime,
    *,
    applied: bool,
) -> str:
    """Render `runs` (plans, or applies when `applied`) as the dashboard of the checkout, as
    it would stand at `now`."""
    sha = workspace_sha(config.root) or _NO_COMMIT
    now = now.replace(microsecond=0)
    m = dash.new_dashboard(
        repo=actions.repository or "local/preview",
        pr=1,
        head_sha=sha,
        base_sha=sha,
        layers=[layer.name for layer in config.ordered_layers],
        server_url=actions.server_url,
    )
    m = dash.start_stage(m, dash.Stage.CI, 0, now)
    m = dash.finish_stage(m, dash.Stage.CI, dash.Status.SKIPPED, None, now, "not run locally")
    m = dash.start_plan(m, [run.layer for run in runs], 0, now)
    m = dash.record_plans(m, runs, None, now, base_sha=sha)
    if applied:
        done = [run for run in runs if run.outcome is not Outcome.SKIPPED and run.plan]
        if done:
            m = dash.start_apply(m, [run.layer for run in done], 0, now)
            m = dash.finish_apply(m, {run.layer: run.outcome for run in runs}, None, now)
    return dash.render(m)
