"""Custom steps (`steps:` in infra.yaml) in pull request stories with real Terraform and
Terragrunt, a real git checkout and the GitHub stand-in: a failing check blocks `/apply` and
shows why, an advisory one only annotates, a hung one is reported as timed out, and what a
step is given (its variables, no shell) and what it shows (redacted) is what the docs say."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from homelab import state_resources
from infra_pipeline.config import Stage
from infra_pipeline.core.dashboard import steps as dash
from infra_pipeline.models import Outcome, StepOutcome, StepResult
from prstory import Repo, dashboard_body, git, make_repo, replies
from standin import GitHubStandIn

PLATFORM_FILE = "modules/platform/main.tf"
STAGING_FILE = "modules/data-staging/main.tf"
TOKEN = "ghs_standin_token"  # gh_env's GITHUB_TOKEN

# The team's check script, run by the steps below; what it does is its first argument.
CHECK = """\
import json, os, sys, time

what = sys.argv[1]
if what == "env":
    for name in sorted(os.environ):
        if name.startswith("INFRA_") and name != "INFRA_PLAN_KEY":
            print(f"{name}={os.environ[name]}")
elif what == "plan":
    path = os.environ["INFRA_PLAN_JSON"]
    plan = json.load(open(path))
    print("plan file:", path)
    for change in plan["resource_changes"]:
        print(change["change"]["actions"][0], change["address"])
elif what == "fail":
    for n in range(100):
        print(f"finding {n}: replicas must not exceed 2")
    sys.exit(int(sys.argv[2]))
elif what == "secret":
    print("the token is", os.environ["GITHUB_TOKEN"])
elif what == "hang":
    print("waiting for a server that never answers", flush=True)
    time.sleep(600)
"""


# The step examples/homelab/checks/plan_summary.py documents.
EXAMPLE_STEP = (
    "    - name: plan-summary\n"
    '      run: python3 "$INFRA_ROOT/checks/plan_summary.py"\n'
    "      shell: true\n"
    "      blocking: false\n"
)


@pytest.fixture
def repo(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str]) -> Repo:
    standin.set_permission("alice", "admin")
    return make_repo(tmp_path, standin, gh_env)


def merge_steps(repo: Repo, standin: GitHubStandIn, edit: Callable[[str], str]) -> None:
    """The reviewed change on main that adds the check script and `edit`s infra.yaml; the PR
    branch starts over from there (steps are read from the default branch)."""
    git(repo.root, "checkout", "-q", "main")
    (repo.root / "checks").mkdir(exist_ok=True)
    (repo.root / "checks" / "check.py").write_text(CHECK)
    path = repo.root / "infra.yaml"
    text = edit(path.read_text())
    path.write_text(text)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "custom steps")
    base = git(repo.root, "rev-parse", "HEAD")
    standin.add_commit(base)
    standin.set_ref("refs/heads/main", base)
    standin.set_file("infra.yaml", text, ref=base)
    git(repo.root, "checkout", "-qB", "change")
    repo.base = base


def layer_steps(layer_order: int, steps: str) -> Callable[[str], str]:
    """Give the layer with `order: N` the `steps` mapping (flow-style YAML)."""

    def edit(text: str) -> str:
        old = f"order: {layer_order}}}"
        assert old in text
        return text.replace(old, f"order: {layer_order}, steps: {steps}}}")

    return edit


def change_platform_and_staging(repo: Repo, number: int = 7) -> str:
    repo.commit(PLATFORM_FILE, "replicas    = 2", "replicas    = 3", "more ingress replicas")
    head = repo.commit(STAGING_FILE, '"small"', '"medium"', "bigger staging db")
    repo.open_pr(number, head, [PLATFORM_FILE, STAGING_FILE])
    return head


def board(standin: GitHubStandIn, head: str) -> tuple[str, dash.Dashboard]:
    body = dashboard_body(standin, 7, head)
    return body, dash.parse(body)


def step(m: dash.Dashboard, layer: str, name: str) -> StepResult:
    return next(s for s in m.layer(layer).steps if s.name == name)


def test_a_failing_post_plan_step_blocks_apply_and_an_advisory_one_only_annotates(
    repo: Repo, standin: GitHubStandIn
) -> None:
    def edit(text: str) -> str:
        # Every layer reads its plan's JSON; platform's policy fails, staging's advice too.
        # Every layer: a check of our own, then the example's `plan-summary`.
        text += (
            "steps:\n  post_plan:\n"
            "    - name: plan-check\n"
            '      run: python3 "$INFRA_ROOT/checks/check.py" plan\n'
            "      shell: true\n" + EXAMPLE_STEP
        )
        text = layer_steps(
            2, '{post_plan: [{name: policy, run: [python3, ../checks/check.py, fail, "2"]}]}'
        )(text)
        return layer_steps(
            3,
            "{post_plan: [{name: advice, run: [python3, "
            '../../../checks/check.py, fail, "1"], blocking: false}]}',
        )(text)

    merge_steps(repo, standin, edit)
    head = change_platform_and_staging(repo)
    opened = repo.pr_event(7)
    assert opened.code == 1  # a layer's plan failed

    body, m = board(standin, head)
    platform, staging = m.layer("platform"), m.layer("data-staging")
    assert platform.plan.status is dash.Status.FAILED and platform.record is None
    assert "post_plan step `policy` failed (exit 2)" in platform.plan.detail
    policy = step(m, "platform", "policy")
    assert (policy.outcome, policy.exit_code, policy.blocking) == (StepOutcome.FAILED, 2, True)
    # The output's tail, capped: the last findings, and a note that earlier ones were cut.
    assert "finding 99: replicas must not exceed 2" in policy.tail
    assert "finding 0:" not in policy.tail and "earlier output cut" in policy.tail
    assert "finding 99: replicas must not exceed 2" in body
    assert "steps: ✅ plan-check ✅ plan-summary ❌ policy" in body

    # The plan's JSON reached the global step, and was removed after the stage.
    check = step(m, "platform", "plan-check")
    assert check.outcome is StepOutcome.PASSED
    assert "create module.ingress.terraform_data.deployment" in check.tail
    plan_file = Path(check.tail.split("plan file: ")[1].splitlines()[0])
    assert plan_file.name == "plan.json" and not plan_file.exists()
    summary = step(m, "platform", "plan-summary")  # the example's script
    assert summary.outcome is StepOutcome.PASSED
    assert "create  module.ingress.terraform_data.deployment" in summary.tail
    assert summary.tail.endswith("platform: nothing is deleted")

    # The advisory step failed too, but staging's plan stands: only a ⚠️ beside it.
    assert staging.plan.status is dash.Status.OK and staging.record is not None
    advice = step(m, "data-staging", "advice")
    assert (advice.outcome, advice.blocking) == (StepOutcome.FAILED, False)
    assert "steps: ✅ plan-check ✅ plan-summary ⚠️ advice" in body

    refused, _ = repo.comment(7, "/apply platform", "alice")
    assert refused.code == 1
    assert "`platform` has no successful plan at the head commit" in replies(standin, 7)[-1]
    assert state_resources(repo.root, "platform") == []


def test_a_step_gets_its_variables_no_shell_and_its_output_redacted_and_a_hung_one_times_out(
    repo: Repo, standin: GitHubStandIn
) -> None:
    merge_steps(
        repo,
        standin,
        layer_steps(
            2,
            "{pre_plan: ["
            "{name: env, run: [python3, ../checks/check.py, env]},"
            '{name: literal, run: [echo, "$INFRA_LAYER", ">", out.txt, "|", "*"]},'
            "{name: secret, run: [python3, ../checks/check.py, secret]},"
            "{name: hang, run: [python3, ../checks/check.py, hang], timeout: 2s}]}",
        ),
    )
    head = change_platform_and_staging(repo)
    opened = repo.pr_event(7)
    assert opened.code == 1

    body, m = board(standin, head)
    platform = m.layer("platform")
    assert platform.plan.status is dash.Status.FAILED  # never left ⏳
    assert "pre_plan step `hang` timed out after 2s: `platform` was not planned" in (
        platform.plan.detail
    )
    hang = step(m, "platform", "hang")
    assert (hang.outcome, hang.exit_code) == (StepOutcome.TIMED_OUT, None)
    assert "waiting for a server that never answers" in hang.tail
    assert "steps: ✅ env ✅ literal ✅ secret ❌ hang" in body
    assert m.layer("data-staging").plan.status is dash.Status.OK  # other layers go on

    env = dict(
        line.split("=", 1) for line in step(m, "platform", "env").tail.splitlines() if "=" in line
    )
    assert env["INFRA_LAYER"] == "platform"
    assert env["INFRA_STAGE"] == "pre_plan"
    assert env["INFRA_PR"] == "7"
    assert env["INFRA_SHA"] == head
    assert Path(env["INFRA_LAYER_DIR"]) == (repo.root / "platform").resolve()
    assert Path(env["INFRA_ROOT"]) == repo.root.resolve()
    assert env["INFRA_PLAN_JSON"] == "" and env["INFRA_PLANFILE"] == ""  # no plan yet

    # No shell: the arguments arrive as written, nothing is expanded or redirected.
    assert step(m, "platform", "literal").tail == "$INFRA_LAYER > out.txt | *"
    assert not (repo.root / "platform" / "out.txt").exists()

    secret = step(m, "platform", "secret")
    assert secret.tail == "the token is ***"
    assert TOKEN not in body


def test_pre_apply_blocks_the_apply_and_post_apply_fails_it_after_the_change(
    repo: Repo, standin: GitHubStandIn
) -> None:
    def edit(text: str) -> str:
        text += "steps:\n  post_plan:\n" + EXAMPLE_STEP
        text = layer_steps(
            2, '{pre_apply: [{name: gate, run: [python3, ../checks/check.py, fail, "3"]}]}'
        )(text)
        return layer_steps(
            3,
            # An advisory step that fails at plan time does not stand in the apply's way.
            "{post_plan: [{name: advice, run: [python3, "
            '../../../checks/check.py, fail, "1"], blocking: false}], '
            "pre_apply: [{name: plan-check, run: [python3, "
            "../../../checks/check.py, plan]}], post_apply: [{name: smoke, run: [python3, "
            '../../../checks/check.py, fail, "5"]}]}',
        )(text)

    merge_steps(repo, standin, edit)
    head = change_platform_and_staging(repo)
    opened = repo.pr_event(7)
    assert opened.code == 0, opened.out + opened.err
    _, m = board(standin, head)
    assert [s.name for s in m.layer("platform").steps] == ["plan-summary"]
    assert step(m, "data-staging", "advice").outcome is StepOutcome.FAILED

    gated, _ = repo.comment(7, "/apply platform", "alice")
    assert gated.code == 1
    reply = replies(standin, 7)[-1]
    assert "pre_apply step `gate` failed (exit 3): `platform` was not applied" in reply
    assert state_resources(repo.root, "platform") == []
    _, m = board(standin, head)
    gate = step(m, "platform", "gate")
    assert (gate.stage, gate.outcome) == (Stage.PRE_APPLY, StepOutcome.FAILED)

    applied, _ = repo.comment(7, "/apply data-staging", "alice")
    assert applied.code == 1
    reply = replies(standin, 7)[-1]
    assert "post_apply step `smoke` failed (exit 5) after `data-staging` was applied: the " in (
        reply
    )
    assert "its change is live" in reply and "partly applied" not in reply
    assert state_resources(repo.root, "data-staging") != []  # the change IS applied
    body, m = board(standin, head)
    assert "the change IS applied" in m.apply.detail and "the change IS applied" in body
    staging = m.layer("data-staging")
    assert staging.applied is Outcome.FAILED
    assert staging.applied_summary.startswith("Apply complete!")
    assert [(s.stage, s.name) for s in staging.steps] == [
        (Stage.POST_PLAN, "plan-summary"),  # the example's own
        (Stage.POST_PLAN, "advice"),
        (Stage.PRE_APPLY, "plan-check"),
        (Stage.POST_APPLY, "smoke"),
    ]
    assert "create module.postgres." in step(m, "data-staging", "plan-check").tail
