"""The pure side of custom steps: what a step's end means for its layer, the capped output
tail, the variables a step gets, and how the dashboard shows and keeps them (the stories with
real Terraform are in test_custom_steps_story.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra_pipeline.config import Stage
from infra_pipeline.core.custom_steps import (
    CUT,
    StepContext,
    applied_then_blocked,
    blocked_message,
    blocks,
    describe,
    first_block,
    icon,
    step_env,
    tail,
    wants_plan_json,
)
from infra_pipeline.core.dashboard import steps as d
from infra_pipeline.core.plan_text import size
from infra_pipeline.models import ChangeKind, LayerRun, Outcome, StepOutcome, StepResult
from test_dashboard import BASE, NOW, RUN, fresh, html_of, plan


def result(
    name: str = "checkov",
    outcome: StepOutcome = StepOutcome.FAILED,
    *,
    stage: Stage = Stage.POST_PLAN,
    blocking: bool = True,
    code: int | None = 1,
    tail: str = "",
) -> StepResult:
    return StepResult(stage, name, outcome, blocking, code, 1.5, "10m", tail)


# -- what a result means --------------------------------------------------------------------------


def test_only_a_blocking_step_that_did_not_pass_stops_its_layer() -> None:
    passed = result(outcome=StepOutcome.PASSED, code=0)
    advisory = result(blocking=False)
    timed_out = result(outcome=StepOutcome.TIMED_OUT, code=None)
    assert not blocks(passed) and not blocks(advisory)
    assert blocks(result()) and blocks(timed_out)
    assert first_block([passed, advisory, timed_out, result()]) is timed_out
    assert first_block([passed, advisory]) is None
    assert [icon(r) for r in (passed, advisory, result(), timed_out)] == ["✅", "⚠️", "❌", "❌"]


def test_each_result_is_said_in_words_with_what_it_means_at_its_stage() -> None:
    assert describe(result()) == "post_plan step `checkov` failed (exit 1)"
    assert (
        describe(result(blocking=False))
        == "post_plan step `checkov` failed (exit 1) (not blocking)"
    )
    assert describe(result(outcome=StepOutcome.TIMED_OUT, code=None)) == (
        "post_plan step `checkov` timed out after 10m"
    )
    assert describe(result(outcome=StepOutcome.PASSED, blocking=False)) == (
        "post_plan step `checkov` passed"
    )
    said = {
        stage: blocked_message(result(stage=stage), "platform")
        for stage in (Stage.PRE_PLAN, Stage.POST_PLAN, Stage.PRE_APPLY, Stage.POST_APPLY)
    }
    assert said[Stage.PRE_PLAN].endswith("`platform` was not planned")
    assert said[Stage.POST_PLAN].endswith("the plan of `platform` cannot be applied")
    assert said[Stage.PRE_APPLY].endswith("`platform` was not applied, nothing changed")
    assert said[Stage.POST_APPLY].endswith("the change IS applied")


def test_a_post_apply_failure_is_told_apart_from_a_failed_apply() -> None:
    after = LayerRun("platform", Outcome.FAILED, steps=(result(stage=Stage.POST_APPLY),))
    before = LayerRun("platform", Outcome.FAILED, steps=(result(stage=Stage.PRE_APPLY),))
    advisory = LayerRun(
        "platform", Outcome.FAILED, steps=(result(stage=Stage.POST_APPLY, blocking=False),)
    )
    assert applied_then_blocked(after)
    assert not applied_then_blocked(before) and not applied_then_blocked(advisory)
    assert not applied_then_blocked(LayerRun("platform", Outcome.FAILED))


# -- the environment ------------------------------------------------------------------------------


def test_a_step_is_told_its_layer_stage_plan_pr_and_commit() -> None:
    env = step_env(
        root=Path("/repo"),
        layer="platform",
        layer_dir=Path("/repo/platform"),
        stage=Stage.POST_PLAN,
        context=StepContext(pr=12, sha="a" * 40),
        planfile=Path("/repo/platform/.terraform/infra.tfplan"),
        plan_json=Path("/tmp/x/plan.json"),
    )
    assert env == {
        "INFRA_ROOT": "/repo",
        "INFRA_LAYER": "platform",
        "INFRA_LAYER_DIR": "/repo/platform",
        "INFRA_STAGE": "post_plan",
        "INFRA_PLANFILE": "/repo/platform/.terraform/infra.tfplan",
        "INFRA_PLAN_JSON": "/tmp/x/plan.json",
        "INFRA_PR": "12",
        "INFRA_SHA": "a" * 40,
    }
    local = step_env(
        root=Path("/repo"),
        layer="platform",
        layer_dir=Path("/repo/platform"),
        stage=Stage.PRE_PLAN,
        context=StepContext(),
        planfile=None,
        plan_json=None,
    )
    assert local["INFRA_PR"] == local["INFRA_PLAN_JSON"] == local["INFRA_PLANFILE"] == ""
    assert [s for s in Stage if wants_plan_json(s)] == [Stage.POST_PLAN, Stage.PRE_APPLY]


# -- the output tail ------------------------------------------------------------------------------


def test_the_tail_keeps_the_last_lines_and_says_it_cut() -> None:
    text = "\n".join(f"line {n}" for n in range(100)) + "\n"
    kept = tail(text, lines=5)
    assert kept.splitlines() == [CUT, "line 95", "line 96", "line 97", "line 98", "line 99"]
    assert tail("short\nenough\n") == "short\nenough"


@given(st.text(), st.integers(min_value=1, max_value=50), st.integers(min_value=8, max_value=400))
def test_the_tail_never_exceeds_its_caps(text: str, lines: int, limit: int) -> None:
    kept = tail(text, lines=lines, limit=limit)
    body = kept.removeprefix(CUT + "\n") if kept.startswith(CUT) else kept
    assert len(body.encode()) <= limit
    assert len(body.split("\n")) <= lines
    assert text.rstrip("\n").endswith(body)


# -- the dashboard --------------------------------------------------------------------------------


def validated() -> d.Dashboard:
    m = d.start_stage(fresh(), d.Stage.CI, RUN, NOW)
    return d.finish_stage(m, d.Stage.CI, d.Status.OK, RUN, NOW)


def test_steps_show_in_the_row_and_below_with_their_output_and_survive_a_round_trip() -> None:
    ran = (
        result("tflint", StepOutcome.PASSED, stage=Stage.PRE_PLAN, code=0, tail="0 issues"),
        result("checkov", blocking=False, tail="Check: CKV_AWS_1 FAILED\n```\n</details>"),
    )
    m = d.start_plan(validated(), ["platform"], RUN, NOW)
    run = LayerRun("platform", Outcome.CHANGES, plan=plan("platform"), steps=ran)
    m = d.record_plans(m, [run], RUN, NOW, base_sha=BASE)
    body = d.render(m)

    assert d.parse(body) == m
    page = html_of(body)
    row = next(r for r in page.tables[0] if r[0] == "Plan: platform")
    assert row[2].endswith("steps: ✅ tflint ⚠️ checkov")
    # The hostile output stays inside its code block: one fold per plan and per step output.
    assert page.raw.count("<details") == 3  # type: ignore[attr-defined]
    assert "Check: CKV_AWS_1 FAILED\n```\n</details>" in "".join(page.code)
    assert "<details open><summary>Output of checkov (the end)</summary>" in body


def test_an_apply_replaces_the_last_applys_steps_and_keeps_the_plans() -> None:
    planned = (result("tflint", StepOutcome.PASSED, stage=Stage.POST_PLAN, code=0),)
    changing = plan("platform", ("terraform_data.x", ChangeKind.CREATE))
    m = d.start_plan(validated(), ["platform"], RUN, NOW)
    m = d.record_plans(
        m,
        [LayerRun("platform", Outcome.CHANGES, plan=changing, steps=planned)],
        RUN,
        NOW,
        base_sha=BASE,
    )
    for code in (1, 0):
        m = d.start_apply(m, ["platform"], RUN, NOW)
        ran = (
            result("gate", StepOutcome.PASSED, stage=Stage.PRE_APPLY, code=0),
            result(
                "smoke",
                stage=Stage.POST_APPLY,
                code=code,
                outcome=StepOutcome("failed" if code else "passed"),
            ),
        )
        outcome = Outcome.FAILED if code else Outcome.OK
        m = d.finish_apply(
            m, {"platform": outcome}, RUN, NOW, runs=[LayerRun("platform", outcome, steps=ran)]
        )
    layer = m.layer("platform")
    assert [(s.name, s.outcome) for s in layer.steps] == [
        ("tflint", StepOutcome.PASSED),
        ("gate", StepOutcome.PASSED),
        ("smoke", StepOutcome.PASSED),
    ]
    # A new plan starts the layer afresh.
    assert d.start_plan(m, ["platform"], RUN, NOW).layer("platform").steps == ()


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_is_planning_or_applying(stage: Stage) -> None:
    assert stage.planning is (stage in (Stage.PRE_PLAN, Stage.POST_PLAN))


def test_many_steps_with_long_output_still_fit_in_one_comment() -> None:
    names = [f"layer-{n}" for n in range(20)]
    m = d.start_stage(fresh(names), d.Stage.CI, RUN, NOW)
    m = d.start_plan(d.finish_stage(m, d.Stage.CI, d.Status.OK, RUN, NOW), names, RUN, NOW)
    noisy = tail("\n".join(f"finding {n}: " + "x" * 80 for n in range(200)))
    runs = [
        LayerRun(
            name,
            Outcome.CHANGES,
            plan=plan(name, ("terraform_data.x", ChangeKind.CREATE)),
            steps=(
                result("lint", StepOutcome.PASSED, code=0, tail=noisy),
                result("checkov", blocking=False, tail=noisy),
                result("trivy", blocking=False, tail=noisy),
            ),
        )
        for name in names
    ]
    body = d.render(d.record_plans(m, runs, RUN, NOW, base_sha=BASE))
    assert size(body) < d.LIMIT
    shown = d.parse(body)
    kept = shown.layer("layer-0").steps
    assert [s.name for s in kept] == ["lint", "checkov", "trivy"]  # every result stays
    assert kept[0].tail == "" and kept[1].tail.endswith("finding 199: " + "x" * 80)
