"""The PR pipeline survives faults. Each story runs `infra event` as GitHub Actions
does (a process with the job's environment), with real Terraform on the example and the GitHub
stand-in, and breaks something on the way: GitHub answering 502 or rate-limiting, Terraform
killed mid-apply, the job cancelled mid-plan, two applies racing for one layer.

Property-based checks of the parsers are in test_fuzz.py; the 10,000-resource plan is here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dashboard_html import page_of
from homelab import state_resources
from infra_pipeline.core.dashboard.model import Status
from infra_pipeline.core.dashboard.state_machine import State
from prstory import Job, Repo, dashboard_body, dashboard_of, git, make_repo, replies
from standin import GitHubStandIn, make_event

PLATFORM = "platform"
PLATFORM_FILE = "modules/platform/main.tf"
LOCK_INFO = ".terraform.tfstate.lock.info"
COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"

# The test kills Terraform while the hook's provisioner runs, so `after_hook` is never made.
SLOW_APPLY = """\
resource "terraform_data" "slow_hook" {
  provisioner "local-exec" {
    command = "sleep 30"
  }
}

resource "terraform_data" "after_hook" {
  input      = "configured"
  depends_on = [terraform_data.slow_hook]
}
"""
# Enough instances that planning them takes a few seconds, in which the job is cancelled.
SLOW_PLAN = """\
resource "terraform_data" "replica_slot" {
  count = 3000
  input = count.index
}
"""


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    return make_repo(tmp_path, standin, gh_env)


def add_file(repo: Repo, path: str, text: str, message: str, root: Path | None = None) -> str:
    where = root or repo.root
    (where / path).write_text(text)
    git(where, "add", "-A")
    git(where, "commit", "-qm", message)
    return git(where, "rev-parse", "HEAD")


def comment_job(
    repo: Repo, number: int, body: str, user: str = "alice", cwd: Path | None = None
) -> tuple[Job, int]:
    record = repo.standin.add_comment(number, body, user=user)
    payload = make_event(
        "issue_comment", "created", number=number, body=body, user=user, comment_id=record.id
    )
    return repo.spawn("issue_comment", payload, cwd=cwd), record.id


def children(pid: int) -> list[int]:
    """Every live descendant of `pid` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def wait_for(what: str, check: Callable[[], object], job: Job, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if job.proc.poll() is not None:
            result = job.wait()
            pytest.fail(f"the job ended before {what}:\n{result.out}{result.err}")
        time.sleep(0.05)
    job.proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def engine_running(job: Job, subcommand: str) -> int | None:
    """The pid of the engine process (a child of `infra`) running `subcommand`."""
    for pid in children(job.proc.pid):
        argv = cmdline(pid)
        if subcommand in argv and any(Path(a).name in ("terraform", "tofu") for a in argv[:1]):
            return pid
        if subcommand in argv and "infra_pipeline.adapters.tfworker" in argv:
            return pid
    return None


# -- 2. Terraform killed in the middle of an apply ---------------------------------------------


def test_engine_killed_mid_apply_keeps_the_lock_and_the_next_plan_shows_what_is_left(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    # Plain Terraform layers: the engine infra started is the process killed. (Under
    # Terragrunt, killing its Terraform child makes Terragrunt exit 1 with the error.)
    standin.set_permission("alice", "maintain")
    repo = make_repo(tmp_path, standin, gh_env, engine="terraform")
    head = add_file(repo, "platform/hook.tf", SLOW_APPLY, "a post-install hook")
    repo.open_pr(7, head, ["platform/hook.tf"])
    assert repo.pr_event(7).code == 0

    job, comment_id = comment_job(repo, 7, "/apply")
    sleeper = wait_for(
        "the provisioner to run",
        lambda: next((p for p in children(job.proc.pid) if "sleep" in cmdline(p)), None),
        job,
    )
    engine = engine_running(job, "apply")
    assert engine is not None
    os.kill(engine, signal.SIGKILL)
    os.kill(int(sleeper), signal.SIGKILL)  # the provisioner's orphan: not part of the story
    result = job.wait()

    assert result.code == 1, result.out + result.err
    m = dashboard_of(standin, 7, head)
    assert m.apply.status is Status.FAILED
    assert m.apply.detail == "platform: the engine was killed (signal 9)"
    reply = replies(standin, 7)[-1]
    assert "the engine was killed (signal 9)" in reply
    assert "`platform` stays locked by this pull request" in reply
    assert "partly applied" in reply
    assert "refs/infra-locks/platform" in standin.refs
    assert standin.reactions(comment_id) == ["eyes", "confused"]
    assert standin.latest_statuses(head)["infra/apply"].state == "failure"

    again, _ = comment_job(repo, 7, "/plan platform")
    planned = again.wait()
    assert planned.code == 0, planned.out + planned.err
    platform = dashboard_of(standin, 7, head).layer(PLATFORM)
    assert platform.plan.status is Status.OK
    assert platform.record is not None
    assert "terraform_data.after_hook" in platform.record.creates  # what is left to apply
    assert "terraform_data.after_hook" not in state_resources(repo.root, PLATFORM)
    assert dashboard_of(standin, 7, head).state is State.PLAN_DIFF  # asks for `/apply` again


# -- 3. The job cancelled in the middle of a plan --------------------------------------------


def test_cancelled_job_interrupts_terraform_which_releases_its_state_lock(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = add_file(repo, "platform/slots.tf", SLOW_PLAN, "many replica slots")
    repo.open_pr(7, head, ["platform/slots.tf"])
    lock_info = repo.root / PLATFORM / LOCK_INFO

    opened = make_event("pull_request", "opened", number=7, head_sha=head, base_sha=repo.base)
    job = repo.spawn("pull_request", opened)
    wait_for("Terraform to lock the state", lock_info.exists, job)
    assert engine_running(job, "plan") is not None
    job.proc.send_signal(signal.SIGTERM)  # what GitHub Actions sends a cancelled job first
    result = job.wait(timeout=120)

    assert result.code == 130, result.out + result.err
    assert "Interrupt received" in result.out  # SIGINT: Terraform winds down, not killed
    assert not lock_info.exists(), "Terraform was not interrupted, or kept its state lock"
    m = dashboard_of(standin, 7, head)
    assert m.ci.status is Status.OK
    assert m.layer(PLATFORM).plan.status is Status.STALE  # stopped without reporting
    rows = [m.ci, m.apply, m.review, *(layer.plan for layer in m.layers)]
    assert Status.RUNNING not in [row.status for row in rows]
    assert standin.latest_statuses(head)["infra/plan"].state != "pending"

    again, _ = comment_job(repo, 7, "/plan platform")
    planned = again.wait()
    assert planned.code == 0, planned.out + planned.err
    board = dashboard_body(standin, 7, head)
    page = page_of(board)
    assert page.rows()["Plan: platform"][:2] == ["✅", "3002 to add · Log"]  # the example's 2 too
    assert "Plan: platform: 3002 to add" in page.headings


# -- 1. The whole story while GitHub fails and rate-limits -------------------------------------


def test_pr_story_survives_502s_and_a_secondary_rate_limit(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    repo.open_pr(7, head, [PLATFORM_FILE])
    faults = [
        # (the PR's files come from git now: the rate limit meets the dashboard's first read)
        standin.secondary_rate_limit("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
        # GitHub creates the dashboard, then answers 502: the retry must not post it twice.
        standin.inject("POST", COMMENTS, 502, after_write=True),
        standin.inject("PATCH", COMMENT, 502, times=2),
        standin.inject("POST", "/repos/{owner}/{repo}/statuses/{sha}", 502),
        standin.inject("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}", 503),
    ]
    opened = repo.pr_event(7)
    assert opened.code == 0, opened.out + opened.err

    faults += [
        standin.inject("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", 502),
        standin.secondary_rate_limit(
            "GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"
        ),
        # The lock and the deployment are created, then 502: each is found, not made again.
        standin.inject("POST", "/repos/{owner}/{repo}/git/refs", 502, after_write=True),
        standin.inject("POST", "/repos/{owner}/{repo}/deployments", 502, after_write=True),
        standin.inject("POST", "/repos/{owner}/{repo}/statuses/{sha}", 502),
        standin.inject("PATCH", COMMENT, 502),
    ]
    applied, comment_id = repo.comment(7, "/apply", "alice")
    assert applied.code == 0, applied.out + applied.err

    assert [f.hits for f in faults] == [f.times for f in faults], "every fault was met"
    m = dashboard_of(standin, 7, head)  # exactly one dashboard
    assert m.layer(PLATFORM).plan.status is Status.OK and m.apply.status is Status.OK
    # Nothing went wrong that a user must hear about: the one reply is the apply's result.
    [reply] = replies(standin, 7)
    assert page_of(reply).headings == ["✅ /apply of platform: applied"]
    assert standin.reactions(comment_id) == ["eyes", "rocket"]
    statuses = standin.latest_statuses(head)
    assert statuses["infra/plan"].state == "success"
    assert statuses["infra/apply"].state == "success"
    [deployment] = standin.deployments
    assert deployment.environment == PLATFORM
    assert [s.state for s in deployment.statuses] == ["in_progress", "success"]
    assert "refs/infra-locks/platform" in standin.refs
    assert "module.ingress.terraform_data.deployment" in state_resources(repo.root, PLATFORM)


# -- 4. Two PRs apply the same layer at the same moment ----------------------------------------


def test_two_applies_of_one_layer_at_once_exactly_one_runs(
    repo: Repo, standin: GitHubStandIn, tmp_path: Path
) -> None:
    first = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more replicas")
    repo.open_pr(7, first, [PLATFORM_FILE])
    assert repo.pr_event(7).code == 0
    # PR #8 from the same base, in its own checkout, as its job would have it.
    other = tmp_path / "other"
    git(repo.root, "worktree", "add", "-q", "-b", "other", str(other), repo.base)
    text = (other / PLATFORM_FILE).read_text().replace('"prometheus"', '"victoria-metrics"')
    second = add_file(repo, PLATFORM_FILE, text, "swap monitoring", root=other)
    repo.open_pr(8, second, [PLATFORM_FILE])
    opened = make_event("pull_request", "opened", number=8, head_sha=second, base_sha=repo.base)
    assert repo.spawn("pull_request", opened, cwd=other).wait().code == 0

    jobs = [comment_job(repo, 7, "/apply")[0], comment_job(repo, 8, "/apply", cwd=other)[0]]
    results = [job.wait() for job in jobs]

    codes = sorted(r.code for r in results)
    assert codes == [0, 1], [r.out + r.err for r in results]
    winner, loser = (7, 8) if results[0].code == 0 else (8, 7)
    assert f"`platform` is locked by #{winner}" in replies(standin, loser)[-1]
    [reply] = replies(standin, winner)
    assert page_of(reply).headings == ["✅ /apply of platform: applied"]
    assert [d.environment for d in standin.deployments] == [PLATFORM]
    applied = {7: state_resources(repo.root, PLATFORM), 8: state_resources(other, PLATFORM)}
    assert applied[winner] and applied[loser] == []
    lock = standin.repo().commits[standin.refs["refs/infra-locks/platform"]]
    assert f'"pr": {winner}' in lock.message


# -- 6. A 10,000-resource plan ------------------------------------------------------------------

BIG_PLAN = """
import json, resource, sys
from datetime import UTC, datetime
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.plan_reader import read_plan
from infra_pipeline.core.plan_text import size
from infra_pipeline.models import LayerRun, Outcome

N = 10_000
changes = [
    {
        "address": f"aws_instance.web[{i}]",
        "type": "aws_instance", "name": "web", "index": i,
        "change": {
            "actions": ["create"] if i % 10 else ["delete", "create"],
            "before": None if i % 10 else {"ami": "ami-0", "tags": {"n": str(i)}},
            "after": {"ami": "ami-1", "instance_type": "t3.micro", "tags": {"n": str(i)}},
            "after_unknown": {"id": True, "arn": True},
            "before_sensitive": False,
            "after_sensitive": {"tags": {}},
        },
    }
    for i in range(N)
]
raw = json.dumps({"format_version": "1.2", "resource_changes": changes})  # show -json's output
text = "\\n".join(
    f'  # aws_instance.web[{i}] will be created\\n  + resource "aws_instance" "web" {{\\n'
    f'      + ami           = "ami-1"\\n      + id            = (known after apply)\\n'
    f'      + tags          = {{ "n" = "{i}" }}\\n    }}'
    for i in range(N)
)
plan = read_plan("platform", json.loads(raw), text=text)
now = datetime.now(UTC)
m = d.new_dashboard(repo="acme/infra", pr=7, head_sha="a" * 40, base_sha="b" * 40,
                    layers=["platform"], server_url="https://github.com")
m = d.finish_stage(d.start_stage(m, d.Stage.CI, 1, now), d.Stage.CI, d.Status.OK, 1, now)
m = d.start_plan(m, ["platform"], 1, now)
m = d.record_plans(m, [LayerRun("platform", Outcome.CHANGES, plan=plan)], 1, now,
                   base_sha="b" * 40)
body = d.render(m)
assert d.parse(body).layer("platform").record.counts == plan.counts
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
json.dump({"chars": len(body), "size": size(body), "limit": d.LIMIT, "rss": rss,
           "counts": plan.counts.short(), "plan_json": len(raw)}, sys.stdout)
"""


def test_ten_thousand_resource_plan_stays_under_the_comment_limit_and_500_mb() -> None:
    # A process of its own, so that its peak RSS is this work's alone.
    done = subprocess.run(
        [sys.executable, "-c", BIG_PLAN], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"] == "+10000 ~0 -1000"
    assert result["plan_json"] > 2_000_000
    assert result["chars"] < 65_536 and result["size"] < result["limit"]
    assert result["rss"] < 500 * 1024 * 1024
