"""The scale-out workflow (`ci-matrix.yml`): `infra layers --changed --json`, one
`infra plan LAYER --results-dir` job per touched layer, and `infra dashboard refresh`, each a
subprocess with the environment GitHub Actions gives that job, against real Terraform on the
example and the GitHub stand-in. The dashboard it leaves is the one the single job leaves."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from msgspec.structs import replace

from dashboard_html import page_of
from homelab import copy_example, infra, state_resources
from infra_pipeline.config import load_config
from infra_pipeline.core.dashboard import steps as dash
from infra_pipeline.errors import InfraError
from infra_pipeline.flows import plan_results
from infra_pipeline.flows.validate import LayerCheck
from prstory import SRC, Repo, dashboard_body, dashboard_of, git, make_repo
from standin import GitHubStandIn

PLATFORM_FILE = "modules/platform/main.tf"
STAGING_FILE = "modules/data-staging/main.tf"


@dataclass
class JobRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]


class MatrixRun:
    """One run of the scale-out workflow for pull request `number`: its jobs share the run id
    and the event payload, and each has its own step summary and `GITHUB_OUTPUT`, as on
    GitHub Actions."""

    def __init__(self, repo: Repo, number: int, action: str = "opened") -> None:
        repo.run += 1
        self.repo, self.run_id, self.jobs = repo, repo.run, 0
        self.results = repo.payload_dir / f"{self.run_id}-results"
        payload = repo.pr_payload(number, action)
        self.payload = repo.payload_dir / f"{self.run_id}.json"
        self.payload.write_text(json.dumps(payload))
        repo.standin.add_workflow_run(self.run_id, "in_progress")

    def start(self, *args: str, token: bool = True) -> tuple[subprocess.Popen[str], Path]:
        """A job of the run; `token`: given `GITHUB_TOKEN` (the workflow gives every job one;
        an older ci-matrix.yml gave its plan jobs none)."""
        self.jobs += 1
        files = self.repo.payload_dir / f"{self.run_id}-job{self.jobs}"
        env = {
            **self.repo.env,
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(self.payload),
            "GITHUB_RUN_ID": str(self.run_id),
            "GITHUB_STEP_SUMMARY": f"{files}.summary.md",
            "GITHUB_OUTPUT": f"{files}.output",
            "PYTHONPATH": str(SRC),
        }
        if not token:
            del env["GITHUB_TOKEN"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra_pipeline", *args],
            cwd=self.repo.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return proc, Path(f"{files}.output")

    @staticmethod
    def wait(started: tuple[subprocess.Popen[str], Path]) -> JobRun:
        proc, output = started
        out, err = proc.communicate(timeout=240)
        lines = output.read_text().splitlines() if output.exists() else []
        outputs = dict(line.split("=", 1) for line in lines)
        return JobRun(proc.returncode, out, err, outputs)

    def job(self, *args: str) -> JobRun:
        return self.wait(self.start(*args))

    def plan(self, *layers: str, token: bool = True) -> list[JobRun]:
        """The plan matrix: one job per layer, all at once."""
        started = [
            self.start("plan", layer, "--results-dir", str(self.results), token=token)
            for layer in layers
        ]
        return [self.wait(job) for job in started]

    def refresh(self) -> JobRun:
        result = self.job("dashboard", "refresh", "--results-dir", str(self.results))
        conclusion = "success" if result.code == 0 else "failure"
        self.repo.standin.add_workflow_run(self.run_id, "completed", conclusion)
        return result


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "maintain")
    return make_repo(tmp_path, standin, gh_env)


def change_two_layers(repo: Repo) -> str:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more ingress replicas")
    return repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")


def substance(body: str) -> dash.Dashboard:
    """The dashboard without what differs between two runs of the same plans: the commit,
    the pull request, the run, the clock (how long each step took)."""
    m = dash.parse(body)

    def row(r: dash.Row) -> dash.Row:
        return replace(r, run_id=None, started_at=None, finished_at=None)

    layers = tuple(
        replace(
            layer,
            plan=row(layer.plan),
            record=None if layer.record is None else replace(layer.record, head_sha=""),
            steps=tuple(replace(step, seconds=0.0) for step in layer.steps),
        )
        for layer in m.layers
    )
    return replace(
        m,
        pr=1,
        head_sha="0" * 40,
        ci=row(m.ci),
        apply=row(m.apply),
        review=row(m.review),
        layers=layers,
        revisions=(),
    )


def test_a_matrix_run_leaves_the_single_jobs_dashboard_and_apply_works(
    repo: Repo, standin: GitHubStandIn
) -> None:
    single = change_two_layers(repo)
    repo.open_pr(7, single, [PLATFORM_FILE, STAGING_FILE])
    assert repo.pr_event(7).code == 0
    # The same change on a pull request of its own, planned by the scale-out workflow.
    git(repo.root, "commit", "-q", "--allow-empty", "-m", "the same change, a new commit")
    head = git(repo.root, "rev-parse", "HEAD")
    repo.open_pr(8, head, [PLATFORM_FILE, STAGING_FILE])
    run = MatrixRun(repo, 8)

    listed = run.job("layers", "--changed", "--json")
    assert listed.code == 0, listed.err
    assert listed.out == '["platform","data-staging"]\n'
    assert listed.outputs == {"layers": '["platform","data-staging"]'}
    plans = run.plan(*json.loads(listed.outputs["layers"]))
    assert [p.code for p in plans] == [0, 0], [p.out + p.err for p in plans]
    assert standin.comments(8) == []  # the plan jobs leave the dashboard alone
    refreshed = run.refresh()
    assert refreshed.code == 0, refreshed.out + refreshed.err

    matrix_board = dashboard_body(standin, 8, head)
    assert substance(matrix_board) == substance(dashboard_body(standin, 7, single))
    rows = page_of(matrix_board).rows()
    assert rows["Plan: platform"][0] == "✅"
    assert rows["Plan: 2 others"][0] == "➖" and "Plan: bootstrap" not in rows
    for context in ("infra/plan", "infra/apply"):
        ours, theirs = (
            standin.latest_statuses(head)[context],
            standin.latest_statuses(single)[context],
        )
        assert (ours.state, ours.description) == (theirs.state, theirs.description)
    staging = (run.results / "data-staging.json").read_text()
    assert "change-me-staging" not in staging and "tfplan" not in staging

    result, comment_id = repo.comment(8, "/apply", "alice")

    assert result.code == 0, result.out + result.err
    assert standin.reactions(comment_id) == ["eyes", "rocket"]
    assert "module.ingress.terraform_data.deployment" in state_resources(repo.root, "platform")
    assert state_resources(repo.root, "data-staging") != []
    assert dashboard_of(standin, 8, head).apply.status is dash.Status.OK


def test_a_layer_failing_ci_validate_fails_the_dashboards_ci_row(
    repo: Repo, standin: GitHubStandIn
) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = var.missing", "typo")
    repo.open_pr(7, head, [PLATFORM_FILE])
    run = MatrixRun(repo, 7)

    [plan] = run.plan("platform")
    refreshed = run.refresh()

    assert plan.code == 1 and "::error file=modules/platform/main.tf,line=" in plan.out
    assert refreshed.code == 1
    m = dashboard_of(standin, 7, head)
    assert m.ci.status is dash.Status.FAILED
    assert m.ci.detail == "`platform`: Reference to undeclared input variable"
    assert m.state is dash.State.CI_FAILED and m.layer("platform").record is None
    assert standin.latest_statuses(head)["infra/plan"].state == "failure"


# A resource whose precondition fails at plan time, and a custom step every plan runs.
FAILING_GUARD = """
resource "terraform_data" "guard" {
  lifecycle {
    precondition {
      condition     = var.cluster == "prod"
      error_message = "platform must only run on the prod cluster"
    }
  }
}
"""
STEP = (
    "steps:\n  post_plan:\n    - name: summary\n"
    "      run: [python3, -c, \"print('summary of the plan')\"]\n      blocking: false\n"
)


def test_a_failed_plan_shows_terraforms_diagnostic_and_the_steps_as_the_single_job_does(
    repo: Repo, standin: GitHubStandIn
) -> None:
    # Steps are policy: read from main (the pull request's infra.yaml has none), in both.
    config = (repo.root / "infra.yaml").read_text()
    repo.merge_to_main("infra.yaml", config.replace("layers:\n", STEP + "layers:\n", 1), "steps")
    main_tf = repo.root / PLATFORM_FILE
    code = main_tf.read_text()
    main_tf.write_text(code + FAILING_GUARD)
    where = f"{PLATFORM_FILE}:{code.count(chr(10)) + 5}"  # the guard's `condition` line
    repo.commit(STAGING_FILE, '"small"', '"medium"', "a guard on platform, bigger staging db")
    single = git(repo.root, "rev-parse", "HEAD")
    files = [PLATFORM_FILE, STAGING_FILE]
    repo.open_pr(7, single, files)
    assert repo.pr_event(7).code == 1
    git(repo.root, "commit", "-q", "--allow-empty", "-m", "the same change, a new commit")
    head = git(repo.root, "rev-parse", "HEAD")
    repo.open_pr(8, head, files)
    run = MatrixRun(repo, 8)

    plans = run.plan("platform", "data-staging")
    refreshed = run.refresh()

    assert [p.code for p in plans] == [1, 0] and refreshed.code == 1
    m = dashboard_of(standin, 8, head)
    (diag,) = m.layer("platform").diagnostics
    assert (diag.summary, diag.location) == ("Resource precondition failed", where)
    assert "platform must only run on the prod cluster" in diag.detail
    assert [(s.name, s.tail) for s in m.layer("data-staging").steps] == [
        ("summary", "summary of the plan")
    ]
    matrix_board = dashboard_body(standin, 8, head)
    assert substance(matrix_board) == substance(dashboard_body(standin, 7, single))
    page = page_of(matrix_board)
    assert page.rows()["Plan: platform"][:2] == ["❌", "Resource precondition failed · Log"]
    at = page.blocks.index(f"Error: Resource precondition failed · {where}")
    assert page.blocks[at + 1] == "platform must only run on the prod cluster"
    assert "/tmp/" not in page.text and "-out=" not in page.text


def test_a_plan_job_that_left_no_result_fails_its_row(repo: Repo, standin: GitHubStandIn) -> None:
    head = change_two_layers(repo)
    repo.open_pr(7, head, [PLATFORM_FILE, STAGING_FILE])
    run = MatrixRun(repo, 7)

    run.plan("data-staging")  # the platform job was cancelled before it wrote anything
    refreshed = run.refresh()

    assert refreshed.code == 1
    m = dashboard_of(standin, 7, head)
    assert m.layer("data-staging").plan.status is dash.Status.OK
    platform = m.layer("platform").plan
    assert platform.status is dash.Status.FAILED
    assert platform.detail.startswith("its plan job left no result")
    assert standin.latest_statuses(head)["infra/plan"].state == "failure"


def test_a_change_that_touches_no_layer_is_ready_to_merge(
    repo: Repo, standin: GitHubStandIn
) -> None:
    (repo.root / "README.md").write_text("# homelab\n")
    git(repo.root, "add", "README.md")
    git(repo.root, "commit", "-qm", "a readme")
    head = git(repo.root, "rev-parse", "HEAD")
    repo.open_pr(7, head, ["README.md"])
    run = MatrixRun(repo, 7)

    listed = run.job("layers", "--changed", "--json")
    refreshed = run.refresh()  # the workflow skips the matrix and downloads nothing

    assert listed.outputs == {"layers": "[]"}
    assert refreshed.code == 0, refreshed.out + refreshed.err
    m = dashboard_of(standin, 7, head)
    assert (m.ci.status, m.ci.detail) == (dash.Status.OK, "nothing to validate")
    assert m.state is dash.State.READY_MERGE
    assert {layer.plan.status for layer in m.layers} == {dash.Status.UNTOUCHED}
    assert standin.latest_statuses(head)["infra/plan"].state == "success"


def test_a_draft_gets_no_layers_and_no_dashboard(repo: Repo, standin: GitHubStandIn) -> None:
    head = repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "draft")
    repo.open_pr(7, head, [PLATFORM_FILE], draft=True)
    run = MatrixRun(repo, 7)

    listed = run.job("layers", "--changed", "--json")
    refreshed = run.refresh()

    assert listed.out == "[]\n" and "draft" in listed.err
    assert refreshed.code == 0 and "draft" in refreshed.out
    assert standin.comments(7) == []


def test_layers_outside_a_pull_request_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_example(tmp_path)

    assert infra(root, "layers").code == 0
    assert capsys.readouterr().out == "bootstrap\nplatform\ndata-staging\ndata-prod\n"
    assert infra(root, "layers", "--json").code == 0
    assert json.loads(capsys.readouterr().out) == [
        "bootstrap",
        "platform",
        "data-staging",
        "data-prod",
    ]
    assert infra(root, "layers", "--changed").code == 2
    assert "runs in a pull_request or issue_comment job" in capsys.readouterr().err


def test_a_stray_or_foreign_result_file_is_refused(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    config = load_config(root / "infra.yaml")
    results = tmp_path / "results"
    results.mkdir()

    (results / "platform.json").write_text('{"layer": "platform"}')
    with pytest.raises(InfraError, match="not a plan result"):
        plan_results.read_all(results, config)
    (results / "platform.json").write_text(_result_json(tmp_path, "data-prod"))
    with pytest.raises(InfraError, match="holds the result of layer `data-prod`"):
        plan_results.read_all(results, config)
    (results / "platform.json").unlink()
    (results / "gone.json").write_text(_result_json(tmp_path, "gone"))
    with pytest.raises(InfraError, match=r"which infra\.yaml does not have"):
        plan_results.read_all(results, config)


def _result_json(tmp_path: Path, layer: str) -> str:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    result = plan_results.result_of(
        LayerCheck(layer), None, head_sha="a" * 40, base_sha="", started_at=when, validated_at=when
    )
    return plan_results.write(tmp_path / "written", result).read_text()
