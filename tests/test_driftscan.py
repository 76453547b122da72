"""The scheduled drift scan: one issue per drifted layer, kept up to date,
closed when the layer is back in sync, reopened when the drift comes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab import add_node, infra, state_resources
from mainline import MERGE_SHA, applied_example, scheduled_scan, set_in_yaml
from standin import GitHubStandIn

TITLE = "Drift detected: `bootstrap`"


@pytest.fixture
def homelab(tmp_path: Path) -> Path:
    return applied_example(tmp_path)


def test_one_issue_per_drifted_layer_updated_in_place_then_closed_when_repaired(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    add_node(homelab, "node-4")

    first = scheduled_scan(homelab, gh_env)
    assert first.code == 0, first.out  # drift is reported in an issue, not as a red run
    assert 'terraform_data.node["node-4"]' not in state_resources(homelab, "bootstrap")
    [issue] = standin.issues.values()
    assert (issue.title, issue.labels, issue.state) == (TITLE, ["infra-drift"], "open")
    assert 'terraform_data.node["node-4"]' in issue.body
    assert "| `bootstrap` | 🔶 drifted | 1 to add |" in first.summary

    assert scheduled_scan(homelab, gh_env).code == 0  # the same drift: still the one issue
    add_node(homelab, "node-5")
    assert scheduled_scan(homelab, gh_env).code == 0
    [same] = standin.issues.values()
    assert same.number == issue.number and same.state == "open"
    assert 'terraform_data.node["node-5"]' in same.body  # the latest plan, in place
    assert "**Changes**: 2 to add" in same.body

    assert infra(homelab, "apply", "bootstrap", "--auto-approve").code == 0  # someone repaired it
    assert scheduled_scan(homelab, gh_env).code == 0
    [closed] = standin.issues.values()
    assert closed.state == "closed"
    [comment] = standin.comments(issue.number)
    assert "`bootstrap` is back in sync" in comment.body and "found it in sync" in comment.body


def test_drift_that_comes_back_reopens_the_closed_issue(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    old = standin.add_issue(TITLE, "last month's drift", ["infra-drift"], state="closed")
    add_node(homelab, "node-4")

    assert scheduled_scan(homelab, gh_env).code == 0

    [issue] = standin.issues.values()
    assert issue.number == old.number and issue.state == "open"
    assert 'terraform_data.node["node-4"]' in issue.body
    [comment] = standin.comments(old.number)
    assert comment.body.startswith("🔶 Drift is back in `bootstrap` (1 to add)")


def test_with_drift_auto_apply_the_scan_repairs_the_drift_and_closes_the_issue(
    homelab: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    set_in_yaml(
        homelab,
        "permissions:",
        "drift: {auto_apply: true, labels: [infra-drift, ops]}\npermissions:",
    )
    standin.set_ref("refs/heads/main", MERGE_SHA)  # the commit the scheduled job checked out
    add_node(homelab, "node-4")
    open_issue = standin.add_issue(TITLE, "found yesterday", ["infra-drift", "ops"])

    job = scheduled_scan(homelab, gh_env)

    assert job.code == 0, job.out
    assert 'terraform_data.node["node-4"]' in state_resources(homelab, "bootstrap")
    assert standin.issues[open_issue.number].state == "closed"
    [comment] = standin.comments(open_issue.number)
    assert "applied the code" in comment.body
    assert [d.environment for d in standin.deployments] == ["bootstrap"]
    assert not [ref for ref in standin.refs if ref.startswith("refs/infra-locks/")]
