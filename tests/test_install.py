"""Installing infra-pipeline as a team would: the wheel and sdist build, the wheel installs
into a fresh virtual environment without the review SDK, `infra init` there writes workflows
that actionlint accepts, and requirements.lock (what the GitHub Action installs) is complete
with its hashes.

Installs go through uv and its cache, so after a first run they need no network; the build
runs without isolation, from the hatchling of the dev extras.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "examples" / "homelab"

pytestmark = pytest.mark.install


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--sdist", "--no-isolation", "-o", out, ROOT)
    return out


def fresh_venv(where: Path) -> Path:
    run(sys.executable, "-m", "venv", "--without-pip", where)
    return where / "bin"


def test_the_wheel_installs_lean_and_init_writes_workflows_actionlint_accepts(
    dist: Path, tmp_path: Path
) -> None:
    (wheel,) = dist.glob("infra_pipeline-*-py3-none-any.whl")
    (sdist,) = dist.glob("infra_pipeline-*.tar.gz")
    venv = fresh_venv(tmp_path / "venv")
    run(BIN / "uv", "pip", "install", "--quiet", "--python", venv / "python", wheel)

    version = run(venv / "infra", "--version").stdout
    assert version == f"infra-pipeline {wheel.name.split('-')[1]}\n"
    assert sdist.name == f"infra_pipeline-{wheel.name.split('-')[1]}.tar.gz"
    # The base install has no review SDK: it is the [review] extra.
    probe = subprocess.run([venv / "python", "-c", "import anthropic"], capture_output=True)
    assert probe.returncode != 0

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (repo / "infra.yaml").unlink()
    run("git", "init", "-q", repo)
    written = run(venv / "infra", "init", cwd=repo).stdout
    assert "Next steps" in written
    ci = (repo / ".github" / "workflows" / "ci.yml").read_text()
    assert f"uses: infra-pipeline/infra-pipeline@v{wheel.name.split('-')[1]}" in ci
    # actionlint cannot read a remote action: check the inputs against this one, as `./`.
    shutil.copy(ROOT / "action.yml", repo / "action.yml")
    shutil.copytree(ROOT / "action", repo / "action")
    ci_here = ci.replace(f"infra-pipeline/infra-pipeline@v{wheel.name.split('-')[1]}", "./")
    (repo / ".github" / "workflows" / "ci.yml").write_text(ci_here)
    run(BIN / "actionlint", "-no-color", cwd=repo)


def test_the_lock_installs_with_hashes_and_the_action_can_build_infra_from_source(
    tmp_path: Path,
) -> None:
    venv = fresh_venv(tmp_path / "venv")
    uv = BIN / "uv"
    lock = ROOT / "requirements.lock"
    run(uv, "pip", "install", "--quiet", "--python", venv / "python", "--require-hashes",
        "--no-deps", "-r", lock)  # fmt: skip
    # As action.yml does: infra itself from the checkout, with the locked build backend.
    run(uv, "pip", "install", "--quiet", "--python", venv / "python", "--no-deps",
        "--no-build-isolation", ROOT)  # fmt: skip
    assert run(venv / "infra", "--version").stdout.startswith("infra-pipeline ")
    assert run(venv / "python", "-c", "import anthropic, hatchling; print('ok')").stdout == "ok\n"
