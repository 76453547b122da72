"""`--json` on plan, apply and verify: one document on stdout, valid against the schema the
docs publish; the log stays off stdout."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from homelab import copy_example, infra
from infra_pipeline.json_report import json_schema


def _document(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out
    data = json.loads(out)  # stdout is the document and nothing else
    jsonschema.validate(data, json_schema())
    return data


@pytest.mark.terraform
def test_plan_apply_and_verify_print_one_versioned_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_example(tmp_path)
    capsys.readouterr()

    planned = infra(root, "plan", "bootstrap", "platform", "--json", "--detailed-exitcode")
    plan = _document(capsys)
    assert planned.code == 3
    assert (plan["schema_version"], plan["command"], plan["exit_code"]) == (1, "plan", 3)
    assert plan["changed"] is True
    assert [layer["layer"] for layer in plan["layers"]] == ["bootstrap", "platform"]
    bootstrap = plan["layers"][0]
    assert bootstrap["outcome"] == "changes" and bootstrap["counts"]["add"] > 0
    assert {c["action"] for c in bootstrap["resource_changes"]} == {"create"}
    assert len(bootstrap["fingerprint"]) == 64

    assert infra(root, "apply", "bootstrap", "--json", "--auto-approve").code == 0
    applied = _document(capsys)
    assert (applied["command"], applied["changed"]) == ("apply", True)
    assert applied["layers"][0]["outcome"] == "ok"

    verified = infra(root, "verify", "bootstrap", "--json", "--detailed-exitcode")
    scan = _document(capsys)
    assert verified.code == 0
    assert (scan["command"], scan["changed"], scan["exit_code"]) == ("verify", False, 0)
    assert scan["layers"][0]["outcome"] == "ok"


def test_apply_json_needs_auto_approve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_example(tmp_path)
    result = infra(root, "apply", "bootstrap", "--json")
    assert result.code == 2
    assert "--json needs --auto-approve" in capsys.readouterr().err


def test_the_schema_is_versioned_and_strict() -> None:
    schema = json_schema()
    assert schema["properties"]["schema_version"]["const"] == 1
    assert schema["additionalProperties"] is False
