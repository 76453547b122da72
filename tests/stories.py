"""The dashboard stories a reviewer meets, made with real Terraform on small repositories:
a failed plan (a precondition), a replace, a destroy in a 16-layer repository, a partial and a
full `/apply`, a drift issue and a merged pull request's summary. `test_dashboard_stories`
asserts what each shows; `make screenshots` pictures them for `docs/dashboard.md`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra_pipeline.adapters.terraform import TerraformEngine
from infra_pipeline.config import Config, load_config
from infra_pipeline.core.apply_report import apply_comment
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.reconcile import LayerReport, Verdict
from infra_pipeline.core.summary import (
    E2EResult,
    ReconcileRun,
    Trigger,
    render_issue_body,
    render_merge_summary,
)
from infra_pipeline.flows.dependencies import layer_graph
from infra_pipeline.flows.pipeline import apply_layers, make_engine_factory, plan_fresh, plan_layers
from infra_pipeline.models import LayerRun, Outcome

HEAD = "9f2c4e1" + "a" * 33
BASE = "1b7d0c3" + "b" * 33
NOW = datetime(2026, 11, 30, 12, 55, tzinfo=UTC)
RUN = 7001
RUN_URL = f"https://github.com/acme/infra/actions/runs/{RUN}"

PRECONDITION = """\
variable "cluster" {
  type    = string
  default = "staging"
}

resource "terraform_data" "ingress" {
  input = var.cluster

  lifecycle {
    precondition {
      condition     = var.cluster == "prod"
      error_message = "platform must only run on the prod cluster"
    }
  }
}
"""


def node(name: str, value: str, *, replace_on: str = "") -> str:
    trigger = f'\n  triggers_replace = "{replace_on}"' if replace_on else ""
    return f'resource "terraform_data" "{name}" {{\n  input = "{value}"{trigger}\n}}\n'


def env() -> dict[str, str]:
    keep = ("PATH", "HOME", "TMPDIR", "LANG")
    return {k: v for k, v in os.environ.items() if k in keep} | {"TF_IN_AUTOMATION": "1"}


@dataclass
class Infra:
    """A repository of layers, each one `main.tf`, and the real engine that plans them."""

    root: Path
    names: list[str]

    @classmethod
    def make(cls, root: Path, layers: dict[str, str]) -> Infra:
        lines = ["version: 1", "layers:"]
        for order, (name, tf) in enumerate(layers.items(), start=1):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / "main.tf").write_text(tf)
            lines.append(f"  {name}: {{path: {name}, order: {order}}}")
        (root / "infra.yaml").write_text("\n".join(lines) + "\n")
        return cls(root, list(layers))

    @property
    def config(self) -> Config:
        return load_config(self.root / "infra.yaml")

    def write(self, name: str, tf: str) -> None:
        (self.root / name / "main.tf").write_text(tf)

    def plan(self, names: Sequence[str]) -> list[LayerRun]:
        config = self.config
        layers = [config.layers[n] for n in names]
        return plan_layers(layers, make_engine_factory(config, env()), jobs=2)

    def apply(self, names: Sequence[str]) -> list[LayerRun]:
        config = self.config
        layers = [config.layers[n] for n in names]
        factory = make_engine_factory(config, env())
        return apply_layers(layers, factory, graph=layer_graph(config), plan_for=plan_fresh)

    def engine(self, name: str) -> TerraformEngine:
        config = self.config
        return TerraformEngine(config, config.layers[name], env=env())


def planned(names: Sequence[str], touched: Sequence[str], runs: Sequence[LayerRun]) -> d.Dashboard:
    """The dashboard after the automatic plan of a pull request touching `touched`."""
    m = d.new_dashboard(
        repo="acme/infra",
        pr=42,
        head_sha=HEAD,
        base_sha=BASE,
        layers=names,
        server_url="https://github.com",
    )
    m = d.start_stage(m, d.Stage.CI, RUN, NOW - timedelta(minutes=2))
    m = d.finish_stage(m, d.Stage.CI, d.Status.OK, RUN, NOW - timedelta(minutes=1))
    for name in names:
        if name not in touched:
            m = d.leave_untouched(m, name, NOW)
    m = d.start_plan(m, touched, RUN, NOW - timedelta(minutes=1))
    return d.record_plans(m, runs, RUN, NOW, base_sha=BASE)


def applied(m: d.Dashboard, runs: Sequence[LayerRun]) -> tuple[d.Dashboard, str]:
    """The dashboard after an `/apply` of `runs`, and the comment the apply posts."""
    later = NOW + timedelta(minutes=10)
    m = d.start_apply(m, [r.layer for r in runs], RUN + 1, later)
    outcomes = {r.layer: r.outcome for r in runs}
    m = d.finish_apply(m, outcomes, RUN + 1, later + timedelta(minutes=1), runs=runs)
    if Outcome.FAILED not in outcomes.values() and m.state is d.State.APPLY_DONE:
        m = d.finish_stage(m, d.Stage.REVIEW, d.Status.SKIPPED, None, later, "review.auto is off")
    return m, apply_comment(runs, m, f"https://github.com/acme/infra/actions/runs/{RUN + 1}")


# -- the stories ----------------------------------------------------------------------------------


def failed_plan(tmp: Path) -> d.Dashboard:
    """`platform`'s precondition fails: the PR shows Terraform's own message."""
    infra = Infra.make(tmp, {"network": node("vpc", "10.0.0.0/16"), "platform": PRECONDITION})
    runs = infra.plan(["network", "platform"])
    return planned(infra.names, ["network", "platform"], runs)


def replace_plan(tmp: Path) -> d.Dashboard:
    """A change that forces a replacement, next to an add and an in-place change."""
    return planned(["platform"], ["platform"], replace_runs(tmp))


def replace_runs(tmp: Path) -> list[LayerRun]:
    """The plan of `replace_plan`: a replace, an add and an in-place change."""
    infra = Infra.make(
        tmp,
        {"platform": node("web", "v1", replace_on="ami-1") + node("dns", "web.example.com")},
    )
    assert all(r.outcome is Outcome.OK for r in infra.apply(["platform"]))
    infra.write(
        "platform",
        node("web", "v1", replace_on="ami-2")
        + node("dns", "web2.example.com")
        + node("cache", "redis"),
    )
    return infra.plan(["platform"])


def drift_and_merge(tmp: Path) -> tuple[str, str]:
    """The drift issue of `platform` (the scheduled scan found the replace story's plan, and
    `drift.auto_apply` is off), and a merged pull request's summary: `network` in sync,
    `platform` applied, `data-prod` failed, `edge` skipped because of it, the smoke suite not
    run."""
    [run] = replace_runs(tmp)
    assert run.plan is not None
    scan = ReconcileRun(HEAD, RUN_URL, NOW, Trigger.SCHEDULED)
    issue = render_issue_body(
        LayerReport("platform", Verdict.DRIFTED, run.plan, "drift.auto_apply is off"), scan
    )
    reports = [
        LayerReport("network", Verdict.IN_SYNC, None),
        LayerReport("platform", Verdict.APPLIED, run.plan, duration=12.4),
        LayerReport(
            "data-prod",
            Verdict.FAILED,
            None,
            "Error: Resource precondition failed (data-prod/main.tf:11)",
            error="Error: Resource precondition failed\n\n  on data-prod/main.tf line 11",
        ),
        LayerReport("edge", Verdict.SKIPPED, None, "skipped: `data-prod` failed"),
    ]
    merged = ReconcileRun(HEAD, RUN_URL, NOW, Trigger.AFTER_MERGE)
    e2e = E2EResult("smoke", None, "not run: `data-prod` failed")
    return issue, render_merge_summary(reports, merged, e2e=e2e, branch="main")


LAYERS_16 = [
    "bootstrap",
    "network",
    "dns",
    "platform",
    "monitoring",
    "logging",
    "secrets",
    "registry",
    "ci-runners",
    "data-staging",
    "data-prod",
    "cache",
    "queues",
    "search",
    "cdn",
    "edge",
]


def destroy_in_16(tmp: Path) -> d.Dashboard:
    """16 layers, the PR touches 2: one destroys a resource, one adds two."""
    layers = {name: node("marker", name) for name in LAYERS_16}
    layers["platform"] = node("ingress", "nginx") + node("legacy_lb", "haproxy")
    infra = Infra.make(tmp, layers)
    assert all(r.outcome is Outcome.OK for r in infra.apply(["platform"]))
    infra.write("platform", node("ingress", "nginx"))
    infra.write("data-prod", node("marker", "data-prod") + node("replica_a", "a") + node("b", "b"))
    runs = infra.plan(["platform", "data-prod"])
    return planned(infra.names, ["platform", "data-prod"], runs)


def two_layers_with_changes(tmp: Path) -> tuple[Infra, d.Dashboard]:
    infra = Infra.make(
        tmp,
        {
            "network": node("vpc", "10.0.0.0/16") + node("subnet_a", "10.0.1.0/24"),
            "platform": node("ingress", "nginx"),
        },
    )
    runs = infra.plan(infra.names)
    return infra, planned(infra.names, infra.names, runs)


def partial_apply(tmp: Path) -> tuple[d.Dashboard, str]:
    """`/apply network` while `platform` still has reviewed changes to apply."""
    infra, m = two_layers_with_changes(tmp)
    return applied(m, infra.apply(["network"]))


def full_apply(tmp: Path) -> tuple[d.Dashboard, str]:
    """`/apply`: every layer with reviewed changes, in order."""
    infra, m = two_layers_with_changes(tmp)
    return applied(m, infra.apply(infra.names))
