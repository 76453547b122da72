"""After a merge: the push to `main` scans every layer, applies the drift in
order, runs the smoke suite and reports on the merged PR (real Terraform, the stand-in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homelab import LAYER_DIRS, add_node, base_env, code_file, infra, state_resources
from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.adapters.locks import Holder, Locks
from infra_pipeline.adapters.terraform import TerraformEngine
from infra_pipeline.config import load_config
from infra_pipeline.flows.reconcile import apply_scanned
from mainline import MERGE_SHA, applied_example, push_to_main, rows, set_in_yaml, state_bytes
from standin import GitHubStandIn

BROKEN_HOOK = (
    'resource "terraform_data" "hook" {\n'
    '  provisioner "local-exec" {\n'
    '    command = "echo post-install hook failed >&2; exit 7"\n'
    "  }\n"
    "}\n"
)


@pytest.fixture
def homelab(tmp_path: Path) -> Path:
    return applied_example(tmp_path, smoke=True)


@pytest.fixture
def merged(standin: GitHubStandIn) -> int:
    """PR #12 was merged as MERGE_SHA; #11 was merged earlier and #13 is still open."""
    standin.add_pull(11, state="closed", merged=True, merge_commit_sha="a" * 40)
    standin.add_pull(12, state="closed", merged=True, merge_commit_sha=MERGE_SHA)
    standin.add_pull(13)
    return 12


def bump_prod_replicas(root: Path) -> None:
    main_tf = code_file(root, "data-prod")
    main_tf.write_text(main_tf.read_text().replace("replicas    = 3", "replicas    = 4"))


def test_drift_in_one_layer_is_applied_and_reported_on_the_merged_pr(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    prod_before = state_bytes(homelab, "data-prod")
    add_node(homelab, "node-4")  # out-of-band: the live cluster grew a node

    job = push_to_main(homelab, gh_env)

    assert job.code == 0, job.out
    assert 'terraform_data.node["node-4"]' in state_resources(homelab, "bootstrap")
    assert state_bytes(homelab, "data-prod") == prod_before
    table = rows(job.out, "After merge")
    assert "applied" in table["bootstrap"] and "1 to add" in table["bootstrap"]
    assert all("in sync" in table[name] for name in ("platform", "data-staging", "data-prod"))

    [comment] = standin.comments(merged)
    assert standin.comments(11) == [] and standin.comments(13) == []
    assert "| `bootstrap` | 🚀 applied | 1 to add |" in comment.body
    assert "| `data-prod` | ✅ in sync | - |" in comment.body
    assert "**E2E** `smoke`: ✅ smoke passed" in comment.body
    assert f"{gh_env['GITHUB_SERVER_URL']}/acme/infra/actions/runs/4242" in comment.body
    assert comment.body in job.summary  # the job summary carries the same Markdown

    status = standin.latest_statuses(MERGE_SHA)["infra/apply"]
    assert status.state == "success" and "1 applied" in (status.description or "")
    [deployment] = standin.deployments
    assert (deployment.environment, deployment.sha) == ("bootstrap", MERGE_SHA)
    assert [s.state for s in deployment.statuses] == ["in_progress", "success"]
    assert deployment.statuses[-1].log_url.endswith("/actions/runs/4242")
    assert not [ref for ref in standin.refs if ref.startswith("refs/infra-locks/")]
    assert "infra-audit " in job.out and '"apply-after-merge"' in job.out

    # A re-run of the job finds everything in sync and rewrites its one comment.
    again = push_to_main(homelab, gh_env)
    assert again.code == 0
    [comment] = standin.comments(merged)
    assert "| `bootstrap` | ✅ in sync | - |" in comment.body
    assert len(standin.deployments) == 1


@pytest.mark.parametrize("engine", ["", "tofu"], ids=["as-shipped", "tofu"])
def test_drift_in_two_layers_is_applied_in_layer_order(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int, engine: str
) -> None:
    """platform and data-prod are Terragrunt units as shipped (data-prod depends on platform);
    the variant runs every layer on OpenTofu."""
    homelab = applied_example(tmp_path, engine=engine)
    platform = code_file(homelab, "platform")
    platform.write_text(platform.read_text().replace("replicas    = 2", "replicas    = 5"))
    bump_prod_replicas(homelab)

    job = push_to_main(homelab, gh_env)

    assert job.code == 0, job.out
    table = rows(job.out, "After merge")
    assert "applied" in table["platform"] and "applied" in table["data-prod"]
    assert "in sync" in table["bootstrap"] and "in sync" in table["data-staging"]
    applied = [d.environment for d in standin.deployments]
    assert applied == ["platform", "data-prod"]  # one at a time, in layer order
    assert infra(homelab, "verify", "--all", "--detailed-exitcode").code == 0


def test_a_failing_layer_stops_the_later_ones_untouched(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    (homelab / "platform" / "hook.tf").write_text(BROKEN_HOOK)  # layer 2: plans, cannot apply
    bump_prod_replicas(homelab)  # layer 4: drifted
    prod_before = state_bytes(homelab, "data-prod")

    job = push_to_main(homelab, gh_env)

    assert job.code == 1
    assert state_bytes(homelab, "data-prod") == prod_before
    table = rows(job.out, "After merge")
    assert "failed" in table["platform"] and "local-exec provisioner error" in table["platform"]
    assert "post-install hook failed" in job.out  # the whole error, above the table
    assert "skipped" in table["data-prod"] and "`platform` failed first" in table["data-prod"]
    assert "in sync" in table["bootstrap"] and "in sync" in table["data-staging"]

    [comment] = standin.comments(merged)
    assert "❌ Failed" in comment.body
    assert "| `platform` | ❌ failed |" in comment.body
    assert "<summary>platform: error</summary>" in comment.body
    assert "| `data-prod` | ⏭️ skipped | 1 to change | not applied: `platform` failed first |" in (
        comment.body
    )
    assert "not run: `platform` failed" in comment.body  # no smoke suite on a broken rollout
    assert standin.latest_statuses(MERGE_SHA)["infra/apply"].state == "failure"
    [deployment] = standin.deployments
    assert deployment.environment == "platform"
    assert [s.state for s in deployment.statuses] == ["in_progress", "failure"]
    # Drift left behind is tracked until a later run repairs it.
    titles = sorted(issue.title for issue in standin.issues.values())
    assert titles == ["Drift detected: `data-prod`", "Drift detected: `platform`"]


def test_auto_apply_false_layers_are_reported_not_applied(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    set_in_yaml(
        homelab,
        "data-prod:    {path: envs/prod/data,    engine: terragrunt, order: 4}",
        "data-prod:    {path: envs/prod/data,    engine: terragrunt, order: 4, auto_apply: false}",
    )
    bump_prod_replicas(homelab)
    add_node(homelab, "node-4")
    prod_before = state_bytes(homelab, "data-prod")

    job = push_to_main(homelab, gh_env)

    assert job.code == 0, job.out
    assert state_bytes(homelab, "data-prod") == prod_before
    assert 'terraform_data.node["node-4"]' in state_resources(homelab, "bootstrap")
    [comment] = standin.comments(merged)
    assert "| `data-prod` | 🔶 drifted | 1 to change | reported only: auto_apply is false |" in (
        comment.body
    )
    assert "still differs from the code" in comment.body
    assert [d.environment for d in standin.deployments] == ["bootstrap"]


def test_a_layer_locked_by_an_open_pr_is_left_to_that_pr(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str], merged: int
) -> None:
    with GitHub.from_env(gh_env) as github:
        locks = Locks(github, is_open=lambda number: github.get_pull(number).state == "open")
        taken = locks.acquire(
            "bootstrap", Holder(13, "alice", "2025-03-14T11:00:00Z"), base_sha=MERGE_SHA
        )
        assert taken.ok
    add_node(homelab, "node-4")
    bump_prod_replicas(homelab)

    job = push_to_main(homelab, gh_env)

    assert job.code == 0, job.out
    assert 'terraform_data.node["node-4"]' not in state_resources(homelab, "bootstrap")
    table = rows(job.out, "After merge")
    assert "skipped" in table["bootstrap"] and "locked by #13" in table["bootstrap"]
    assert "applied" in table["data-prod"]  # later layers still apply
    assert "refs/infra-locks/bootstrap" in standin.refs  # #13 keeps its lock
    assert "refs/infra-locks/data-prod" not in standin.refs  # ours is released


def test_a_stale_scan_plan_is_applied_only_if_a_new_plan_is_the_same(homelab: Path) -> None:
    config = load_config(homelab / "infra.yaml")
    engine = TerraformEngine(config, config.layers["bootstrap"], env=base_env())
    state = homelab / LAYER_DIRS["bootstrap"] / "terraform.tfstate"

    def touch_state() -> None:  # another apply moved the state on since the scan
        data = json.loads(state.read_text())
        data["serial"] += 1
        state.write_text(json.dumps(data))

    add_node(homelab, "node-4")
    scanned = engine.plan()
    touch_state()
    result = apply_scanned(engine, scanned)
    assert result.ok, result.error
    assert "re-planned: same changes" in result.output
    assert 'terraform_data.node["node-4"]' in state_resources(homelab, "bootstrap")

    add_node(homelab, "node-5")
    scanned = engine.plan()
    touch_state()
    add_node(homelab, "node-6")  # the world moved on: the new plan is not what was scanned
    result = apply_scanned(engine, scanned)
    assert not result.ok
    assert "refused: the scan's plan went stale" in result.error
    assert 'terraform_data.node["node-5"]' not in state_resources(homelab, "bootstrap")
