"""The CLI behaves like Terraform's and click's: a usage error is the framework's own message
and exit 2, never "internal error"; `--version` answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

INFRA = Path(sys.executable).with_name("infra")


def run_infra(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INFRA_"))}
    env["RUNNER_TEMP"] = str(tmp_path)  # where a crash log would go
    return subprocess.run(
        [str(INFRA), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plna"], "No such command 'plna'. Did you mean 'plan'?"),
        (["plan", "--bogus"], "No such option: --bogus"),
        (["plan", "--jobs", "abc"], "Invalid value for '--jobs'"),
        (["apply", "--bogus"], "No such option: --bogus"),
        (["verify", "--detailed-exitcode", "--jobs", "x"], "Invalid value for '--jobs'"),
        (["review"], "Missing option '--pr'"),
        (["force-unlock", "platform"], "Missing argument 'lock_id'"),
        (["layers", "--graph", "--format", "xml"], "Invalid value for '--format'"),
        (["migrate", "atlantiss"], "No such command 'atlantiss'"),
        (["verify", "--detailed"], "No such option: --detailed"),
    ],
)
def test_a_usage_error_exits_2_with_clicks_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_infra(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Usage: infra" in result.stderr
    assert "internal error" not in result.stdout + result.stderr
    assert not (tmp_path / "infra-pipeline-crash.log").exists()


def test_no_arguments_show_the_help_and_exit_2(tmp_path: Path) -> None:
    result = run_infra(tmp_path)
    assert result.returncode == 2
    assert "Commands" in result.stdout + result.stderr
    assert not (tmp_path / "infra-pipeline-crash.log").exists()


def test_version(tmp_path: Path) -> None:
    from infra_pipeline.templates import package_version

    result = run_infra(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"infra-pipeline {package_version()}\n"


def test_an_unknown_layer_is_a_usage_error_named_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "network").mkdir()
    (tmp_path / "infra.yaml").write_text(
        "version: 1\nlayers:\n  network: {path: network, order: 1}\n"
    )

    for args in (["plan", "netwrk"], ["apply", "netwrk"], ["apply", "--auto-approve", "netwrk"]):
        result = run_infra(tmp_path, *args)  # no terminal: apply would refuse to ask, too
        assert result.returncode == 2, result.stderr
        assert "unknown layer `netwrk`" in result.stderr
        assert "layers are: network, or `all`" in result.stderr
        assert not (tmp_path / "infra-pipeline-crash.log").exists()
