"""The default-branch jobs run as GitHub Actions starts them: `infra event` in-process, with a
real-shaped push or schedule payload on disk and the `GITHUB_*` variables of the run."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab import LAYER_DIRS, base_env, copy_example, infra, set_engine
from standin import make_event

MERGE_SHA = "4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"


@dataclass
class JobResult:
    code: int
    out: str
    summary: str  # what the job wrote to $GITHUB_STEP_SUMMARY


def applied_example(tmp_path: Path, *, smoke: bool = False, engine: str = "") -> Path:
    """The example as it is live: applied once; with `smoke`, a passing smoke suite declared;
    with `engine`, every layer run by that engine instead."""
    root = copy_example(tmp_path)
    if engine:
        set_engine(root, engine)
    if smoke:
        # In place of the example's suites (a repeated `e2e:` key is an error in infra.yaml);
        # the rest of the file keeps its lines, which tests edit by text.
        command = json.dumps([sys.executable, "-c", "print('smoke ok')"])
        config = root / "infra.yaml"
        lines = config.read_text().splitlines()
        start = lines.index("e2e:")
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "#")),
            len(lines),
        )
        lines[start:end] = ["e2e:", f"  smoke: {{command: {command}}}"]
        config.write_text("\n".join(lines) + "\n")
    assert infra(root, "apply", "all", "--auto-approve").code == 0
    return root


def run_event(root: Path, gh_env: dict[str, str], name: str, event: dict[str, Any]) -> JobResult:
    work = root.parent
    event_path = work / f"{name}.json"
    event_path.write_text(json.dumps(event))
    summary = work / "step-summary.md"
    summary.write_text("")
    env = base_env(
        **gh_env,
        GITHUB_EVENT_NAME=name,
        GITHUB_EVENT_PATH=str(event_path),
        GITHUB_SHA=MERGE_SHA,
        GITHUB_REF="refs/heads/main",
        GITHUB_REF_NAME="main",
        GITHUB_ACTOR="octocat",
        GITHUB_STEP_SUMMARY=str(summary),
    )
    result = infra(root, "event", env=env)
    return JobResult(result.code, result.out, summary.read_text())


def push_to_main(root: Path, gh_env: dict[str, str]) -> JobResult:
    """The `push` job after a merge on `main` (the merge commit is MERGE_SHA)."""
    return run_event(root, gh_env, "push", make_event("push", after=MERGE_SHA))


def scheduled_scan(root: Path, gh_env: dict[str, str]) -> JobResult:
    """The daily `schedule` job, on `main` at MERGE_SHA."""
    return run_event(root, gh_env, "schedule", make_event("schedule", schedule="17 5 * * *"))


def state_bytes(root: Path, layer: str) -> bytes:
    return (root / LAYER_DIRS[layer] / "terraform.tfstate").read_bytes()


def rows(out: str, title: str) -> dict[str, str]:
    """The rows of the terminal table called `title`, by layer."""
    table = out[out.index(title) :]
    return {line.split("│")[1].strip(): line for line in table.splitlines() if "│" in line}


def set_in_yaml(root: Path, old: str, new: str) -> None:
    path = root / "infra.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
