"""`steps:` in infra.yaml: what a team writes, what runs, and the mistakes named in their words."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra_pipeline.config import Config, Stage, duration_seconds, parse_config
from infra_pipeline.errors import ConfigError


def _parse(tmp_path: Path, text: str) -> Config:
    (tmp_path / "net").mkdir(exist_ok=True)
    return parse_config(textwrap.dedent(text), tmp_path / "infra.yaml")


def _problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _parse(tmp_path, text)
    return caught.value.message


def test_global_steps_run_before_the_layers_own_at_each_stage(tmp_path: Path) -> None:
    config = _parse(
        tmp_path,
        """\
        version: 1
        steps:
          post_plan:
            - {name: checkov, run: [checkov, -f, $INFRA_PLAN_JSON], blocking: false}
        layers:
          net:
            path: net
            order: 1
            steps:
              post_plan: [{name: tflint, run: [tflint], timeout: 30s}]
              post_apply: [{name: notify, run: "echo done | tee log", shell: true}]
        """,
    )
    net = config.layers["net"]
    checkov, tflint = config.steps_for(net, Stage.POST_PLAN)
    assert (checkov.name, checkov.blocking, checkov.timeout_seconds) == ("checkov", False, 600)
    assert checkov.argv == ("checkov", "-f", "$INFRA_PLAN_JSON")  # no shell: literally
    assert (tflint.blocking, tflint.timeout_seconds) == (True, 30)
    assert config.steps_for(net, Stage.POST_APPLY)[0].argv == ("sh", "-c", "echo done | tee log")
    assert config.steps_for(net, Stage.PRE_PLAN) == ()


def test_run_must_match_shell_and_the_error_says_so(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        """\
        version: 1
        steps:
          pre_plan:
            - {name: lint, run: "tflint | tee out"}
            - {name: scan, run: [trivy, config, .], shell: true}
            - {name: cost, run: 5}
            - {name: slow, run: [x], timeout: 10}
            - {name: typo, run: [x], blockng: false}
        layers:
          net: {path: net, order: 1}
        """,
    )
    assert (
        ":4: steps.pre_plan.0: step 'lint': `run` is a list of arguments run without a shell"
        in message
    )
    assert "write `shell: true`" in message
    assert (
        ":5: steps.pre_plan.1: step 'scan' has `shell: true`, so `run` is one string run by `sh -c`"
        in message
    )
    assert ":6: steps.pre_plan.2.run: `run` is a list of arguments" in message
    assert ":7: steps.pre_plan.3.timeout: `timeout` is a duration such as 30s, 10m or 1h" in message
    assert (
        ":8: steps.pre_plan.4.blockng: unknown key `blockng`; did you mean `blocking`?" in message
    )


def test_step_names_are_unique_per_stage_across_global_and_layer(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        """\
        version: 1
        steps:
          post_plan: [{name: checkov, run: [checkov]}]
        layers:
          net:
            path: net
            order: 1
            steps: {post_plan: [{name: checkov, run: [checkov, --quiet]}]}
        """,
    )
    assert (
        "layers.net.steps.post_plan (with the top-level ones) has two steps named 'checkov'"
        in message
    )
    # The same name at another stage is another step.
    _parse(
        tmp_path,
        """\
        version: 1
        steps:
          post_plan: [{name: checkov, run: [checkov]}]
          pre_apply: [{name: checkov, run: [checkov]}]
        layers:
          net: {path: net, order: 1}
        """,
    )


def test_an_unknown_stage_gets_the_nearest_one(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        """\
        version: 1
        layers:
          net:
            path: net
            order: 1
            steps: {postplan: [{name: a, run: [a]}]}
        """,
    )
    assert "layers.net.steps.postplan: unknown key `postplan`; did you mean `post_plan`?" in message


@pytest.mark.parametrize(
    ("written", "seconds"), [("500ms", 0.5), ("30s", 30), ("10m", 600), ("2h", 7200)]
)
def test_durations_read_as_everywhere_in_infra_yaml(written: str, seconds: float) -> None:
    assert duration_seconds(written) == seconds


def test_the_schema_describes_steps() -> None:
    from infra_pipeline.config import json_schema

    schema = json_schema()
    step = schema["$defs"]["Step"]
    assert set(step["properties"]) == {"name", "run", "blocking", "timeout", "shell"}
    assert set(schema["$defs"]["Steps"]["properties"]) == {s.value for s in Stage}
    assert "steps" in schema["$defs"]["Layer"]["properties"]
