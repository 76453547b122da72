"""Without declared dependencies, applies run one layer at a time in `order` and stop at the
first failure: what is after it is reported skipped, never applied (flows/pipeline.apply_layers
along the graph flows/dependencies builds, with real Terraform)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra_pipeline.config import Config, Layer, parse_config
from infra_pipeline.flows.dependencies import layer_graph
from infra_pipeline.flows.pipeline import apply_layers, make_engine_factory, plan_fresh
from infra_pipeline.models import LayerRun, Outcome

pytestmark = pytest.mark.terraform

OK = 'resource "terraform_data" "x" {\n  input = "%s"\n}\n'
FAILS_ON_APPLY = (
    'resource "terraform_data" "x" {\n'
    '  input = "%s"\n'
    '  provisioner "local-exec" {\n    command = "exit 3"\n  }\n'
    "}\n"
)


def repo(root: Path, layers: dict[str, tuple[int, str]]) -> tuple[list[Layer], Config]:
    """Layers written in the order given (not the `order` they declare)."""
    lines = ["version: 1", "layers:"]
    for name, (order, body) in layers.items():
        (root / name).mkdir()
        (root / name / "main.tf").write_text(body % name)
        lines.append(f"  {name}: {{path: {name}, engine: terraform, order: {order}}}")
    config = parse_config("\n".join(lines) + "\n", root / "infra.yaml")
    return [config.layers[name] for name in layers], config


def test_layers_apply_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    layers, config = repo(
        tmp_path,
        {"apps": (3, OK), "platform": (2, FAILS_ON_APPLY), "network": (1, OK)},
    )
    started: list[str] = []
    done: list[LayerRun] = []
    runs = apply_layers(
        layers,
        make_engine_factory(config, dict(os.environ)),
        graph=layer_graph(config),
        plan_for=plan_fresh,
        on_start=lambda layer: started.append(layer.name),
        on_done=done.append,
    )
    assert started == ["network", "platform"]  # by `order`; apps never started
    assert [(r.layer, r.outcome) for r in runs] == [
        ("network", Outcome.OK),
        ("platform", Outcome.FAILED),
        ("apps", Outcome.SKIPPED),
    ]
    assert done == runs
    assert runs[2].error == "not applied: `platform` failed first"
    assert (tmp_path / "network" / "terraform.tfstate").exists()
    assert not (tmp_path / "apps" / "terraform.tfstate").exists()


def test_a_layer_without_changes_is_ok_without_running_apply(tmp_path: Path) -> None:
    layers, config = repo(tmp_path, {"network": (1, OK)})
    factory = make_engine_factory(config, dict(os.environ))
    graph = layer_graph(config)
    (first,) = apply_layers(layers, factory, graph=graph, plan_for=plan_fresh)
    (again,) = apply_layers(layers, factory, graph=graph, plan_for=plan_fresh)
    assert first.outcome is Outcome.OK and first.plan is not None and first.plan.has_changes
    assert again.outcome is Outcome.OK and again.log == "no changes"
