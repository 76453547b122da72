"""GitHub's merge queue (real Terraform, real git, the stand-in): a `merge_group` event plans
the layers the group's commit touches and sets `infra/plan` and `infra/apply` on that commit,
the statuses a queue waits for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from msgspec.structs import replace

from homelab import infra
from infra_pipeline.config import MergeQueueConfig, parse_config
from infra_pipeline.core.dashboard.model import Status
from infra_pipeline.core.dashboard.render import parse
from infra_pipeline.core.gate import check_merge_queue
from infra_pipeline.core.webhook_events import MergeGroupData
from infra_pipeline.flows.merge_group import pulls_in_group
from mainline import run_event
from standin import GitHubStandIn, make_event

QUEUED_PR = 104


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
            "PATH": "/usr/bin:/bin",
        },
    )
    return done.stdout.strip()


def layer(name: str, value: str) -> str:
    return f'resource "terraform_data" "{name}" {{\n  input = "{value}"\n}}\n'


@pytest.fixture
def queued(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository whose queued group changes `apps` only: (root, base sha, group head sha)."""
    root = tmp_path / "repo"
    for name in ("network", "apps"):
        (root / name).mkdir(parents=True)
        (root / name / "main.tf").write_text(layer(name, "v1"))
    (root / "infra.yaml").write_text(
        "version: 1\nlayers:\n"
        "  network: {path: network, order: 1}\n"
        "  apps: {path: apps, order: 2}\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    (root / "apps" / "main.tf").write_text(layer("apps", "v2"))
    git(root, "commit", "-qam", f"Merge pull request #{QUEUED_PR} from acme/apps-v2")
    return root, base, git(root, "rev-parse", "HEAD")


def queue_check(
    root: Path, gh_env: dict[str, str], base: str, head: str, standin: GitHubStandIn
) -> tuple[int, str]:
    # The policy is read from the default branch, as merged (the queue's base).
    standin.set_file("infra.yaml", (root / "infra.yaml").read_text(), ref=base)
    event = make_event(
        "merge_group", "checks_requested", head_sha=head, base_sha=base, number=QUEUED_PR
    )
    job = run_event(root, gh_env, "merge_group", event)
    return job.code, job.summary


def test_the_group_commit_gets_infra_plan_and_infra_apply_after_merge_by_default(
    queued: tuple[Path, str, str], standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    root, base, head = queued
    standin.add_pull(QUEUED_PR, head_sha="c" * 40, base_sha=base)

    code, summary = queue_check(root, gh_env, base, head, standin)

    assert code == 0
    statuses = standin.latest_statuses(head)
    assert statuses["infra/plan"].state == "success"
    assert statuses["infra/plan"].description == "1 planned, 1 with changes"
    assert statuses["infra/apply"].state == "success"
    assert statuses["infra/apply"].description == "apps apply after merge"
    assert "Merge queue: `" in summary and "| `apps` | 📝 | +1 ~0 -0 |" in summary
    assert "| `network` |" not in summary  # untouched: not planned
    # The queued pull request's dashboard says what the queue found.
    [comment] = standin.comments(QUEUED_PR)
    board = parse(comment.body)
    assert board.merge_queue is not None and board.merge_queue.status is Status.OK
    assert "1 planned, 1 with changes" in board.merge_queue.detail


def test_apply_before_merge_fails_the_group_until_every_change_is_applied(
    queued: tuple[Path, str, str], standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    root, base, head = queued
    with (root / "infra.yaml").open("a") as fh:
        fh.write("merge_queue: {enabled: true, apply_before_merge: true}\n")
    standin.add_pull(QUEUED_PR, head_sha="c" * 40, base_sha=base)

    code, _ = queue_check(root, gh_env, base, head, standin)

    assert code == 1
    status = standin.latest_statuses(head)["infra/apply"]
    assert (status.state, status.description) == ("failure", "not applied before merge: apps")
    [comment] = standin.comments(QUEUED_PR)
    assert parse(comment.body).merge_queue.status is Status.FAILED  # type: ignore[union-attr]

    # The pull request's /apply is what this mode expects; with it done, the group passes.
    assert infra(root, "apply", "apps", "--auto-approve").code == 0
    code, _ = queue_check(root, gh_env, base, head, standin)
    assert code == 0
    assert standin.latest_statuses(head)["infra/apply"].state == "success"


def test_a_failed_plan_fails_both_statuses(
    queued: tuple[Path, str, str], standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    root, base, _ = queued
    (root / "apps" / "main.tf").write_text('resource "terraform_data" "x" {\n  input = nope\n}\n')
    git(root, "commit", "-qam", "broken")
    head = git(root, "rev-parse", "HEAD")

    code, _ = queue_check(root, gh_env, base, head, standin)

    assert code == 1
    statuses = standin.latest_statuses(head)
    assert (statuses["infra/plan"].state, statuses["infra/plan"].description) == (
        "failure",
        "plan failed: apps",
    )
    assert statuses["infra/apply"].state == "failure"


def test_the_queued_pull_requests_come_from_the_branch_and_the_messages() -> None:
    group = MergeGroupData(
        head_sha="a" * 40,
        base_sha="b" * 40,
        head_ref=f"refs/heads/gh-readonly-queue/main/pr-104-{'b' * 40}",
        base_ref="main",
    )
    messages = "Merge pull request #101 from acme/x\n\nFix (#102)\nunrelated #7 mention"
    assert pulls_in_group(group, messages) == [101, 102, 104]


def test_with_a_queue_that_applies_after_merge_a_pull_request_cannot_apply() -> None:
    config = parse_config(
        "version: 1\nlayers: {a: {path: a, order: 1}}\nmerge_queue: {enabled: true}\n",
        Path("infra.yaml"),
        check_paths=False,
    )
    refusal = check_merge_queue(config)
    assert refusal is not None and "add the pull request to the queue" in refusal.reason
    allowed = replace(config, merge_queue=MergeQueueConfig(enabled=False))
    assert check_merge_queue(allowed) is None
