"""After a merge, applies follow the layers' dependency graph (real Terraform, the stand-in).

Five layers, each logging when its apply starts and ends; `cluster` fails in the middle:

    network ─┬─> cluster ──> apps
             └─> dns ─────> monitoring

`on_failure: stop` applies nothing after the failure; `skip_dependents` skips only `apps` and
goes on with `dns` and `monitoring`; with `apply_parallelism` above 1 no layer ever starts
before everything it depends on has ended.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab import infra
from mainline import MERGE_SHA, push_to_main, rows
from standin import GitHubStandIn

DEPENDS = {
    "network": [],
    "cluster": ["network"],
    "dns": ["network"],
    "apps": ["cluster"],
    "monitoring": ["dns"],
}
FAILING = "cluster"


def layer_tf(name: str, log: Path, fail: bool) -> str:
    # The second resource fails for the failing layer, after the layer has logged its start.
    finish = "echo end-failed >&2; exit 3" if fail else f"echo end {name} >> {log}"
    return (
        'resource "terraform_data" "start" {\n'
        f'  provisioner "local-exec" {{ command = "echo start {name} >> {log}" }}\n'
        "}\n"
        'resource "terraform_data" "end" {\n'
        "  depends_on = [terraform_data.start]\n"
        f'  provisioner "local-exec" {{ command = "{finish}" }}\n'
        "}\n"
    )


def five_layers(tmp_path: Path, settings: str) -> tuple[Path, Path]:
    root = tmp_path / "repo"
    log = tmp_path / "events.log"
    lines = ["version: 1", settings, "layers:"]
    for order, (name, deps) in enumerate(DEPENDS.items(), start=1):
        (root / name).mkdir(parents=True)
        (root / name / "main.tf").write_text(layer_tf(name, log, name == FAILING))
        lines.append(f"  {name}: {{path: {name}, order: {order}, depends_on: {deps}}}")
    (root / "infra.yaml").write_text("\n".join(lines) + "\n")
    return root, log


def events(log: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in log.read_text().splitlines()]  # type: ignore[misc]


@pytest.fixture
def merged(standin: GitHubStandIn) -> int:
    standin.add_pull(21, state="closed", merged=True, merge_commit_sha=MERGE_SHA)
    return 21


def test_stop_applies_nothing_after_the_failed_layer(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    root, log = five_layers(tmp_path, "on_failure: stop")

    job = push_to_main(root, gh_env)

    assert job.code == 1, job.out
    assert events(log) == [("start", "network"), ("end", "network"), ("start", "cluster")]
    table = rows(job.out, "After merge")
    assert "applied" in table["network"] and "failed" in table["cluster"]
    for name in ("dns", "apps", "monitoring"):
        assert "skipped" in table[name] and "`cluster` failed first" in table[name]
    [comment] = standin.comments(merged)
    assert "`cluster` failed first" in comment.body


def test_skip_dependents_goes_on_with_the_independent_layers(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    root, log = five_layers(tmp_path, "on_failure: skip_dependents")

    job = push_to_main(root, gh_env)

    assert job.code == 1, job.out
    ended = [name for what, name in events(log) if what == "end"]
    assert ended == ["network", "dns", "monitoring"]
    table = rows(job.out, "After merge")
    assert "failed" in table["cluster"]
    assert "skipped" in table["apps"] and "depends on `cluster`, which failed" in table["apps"]
    assert all("applied" in table[name] for name in ("network", "dns", "monitoring"))
    # The merged PR is told which failure skipped what.
    [comment] = standin.comments(merged)
    assert "depends on `cluster`, which failed" in comment.body
    environments = sorted(d.environment for d in standin.deployments)
    assert environments == ["cluster", "dns", "monitoring", "network"]
    # The job summary draws the graph with each layer's outcome.
    chart = job.summary[job.summary.index("```mermaid") :]
    assert '["apps ⏭️ skipped"]' in chart and '["cluster ❌ failed"]' in chart
    assert '["dns 🚀 applied"]' in chart


def test_parallel_applies_never_start_a_layer_before_its_dependencies(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    root, log = five_layers(tmp_path, "on_failure: skip_dependents\napply_parallelism: 3")

    job = push_to_main(root, gh_env)

    assert job.code == 1, job.out
    seen = events(log)
    position = {event: i for i, event in enumerate(seen)}
    for name, deps in DEPENDS.items():
        for dep in deps:
            if ("start", name) in position:
                assert ("end", dep) in position, f"{name} ran though {dep} did not end"
                assert position[("end", dep)] < position[("start", name)], seen
    assert ("start", "apps") not in position
    assert {name for what, name in seen if what == "end"} == {"network", "dns", "monitoring"}


def test_layers_graph_shows_the_order_applies_follow(tmp_path: Path) -> None:
    root, _ = five_layers(tmp_path, "on_failure: stop")

    text = infra(root, "layers", "--graph")
    chart = infra(root, "layers", "--graph", "--format", "mermaid")

    assert text.code == 0 and chart.code == 0
    assert "cluster     ← network" in text.out.splitlines()
    assert "monitoring  ← dns" in text.out.splitlines()
    assert chart.out.startswith("```mermaid\nflowchart LR\n")


def test_a_depends_on_cycle_is_a_config_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = five_layers(tmp_path, "on_failure: stop")
    config = root / "infra.yaml"
    config.write_text(
        config.read_text().replace(
            "network: {path: network, order: 1, depends_on: []}",
            "network: {path: network, order: 1, depends_on: [apps]}",
        )
    )

    result = infra(root, "layers", "--graph")

    assert result.code == 2
    error = capsys.readouterr().err
    assert "layers: depends_on makes a dependency cycle: apps → cluster → network → apps" in error
