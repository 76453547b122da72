"""Time to first feedback: from the start of `infra event` to what a user first sees.

Run: .venv/bin/python bench/feedback.py [--runs 5]

- a PR opened: until the dashboard (created or written) shows ⏳;
- a `/plan` comment: until the 👀 reaction on it.

Each run starts `infra event` as GitHub Actions does (a new process with the job's
environment; the bundled example in a real git repository; the GitHub stand-in as GitHub),
and the clock starts just before the process is spawned, so Python's start-up counts. The
stand-in stamps every request it serves, and a `terraform` wrapper on PATH stamps every
Terraform command, so the table also says whether the feedback came before any Terraform work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from prstory import Repo, git, make_repo  # noqa: E402
from standin import DEFAULT_REPO, GitHubStandIn  # noqa: E402
from standin.routes import Reply  # noqa: E402

TARGET = 1.0
REACTIONS = "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"
COMMENT_ROUTES = (
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/issues/comments/{comment_id}",
)
WRAPPER = """#!/bin/sh
echo "$(date +%s.%N) $1" >> "{log}"
exec "{terraform}" "$@"
"""


class StampedStandIn(GitHubStandIn):
    """The stand-in, with the wall time each request arrived."""

    def __init__(self, repository: str) -> None:
        super().__init__(repository)
        self.stamps: list[tuple[float, str, str, Any]] = []
        self._stamp_lock = threading.Lock()

    def serve(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes, host: str
    ) -> Reply:
        arrived = time.time()
        reply = super().serve(method, raw_path, headers, raw_body, host)
        with self._stamp_lock:
            last = self.log[-1]
            self.stamps.append((arrived, last.method, last.route, last.body))
        return reply

    def first(self, since: float, wanted: Any) -> float | None:
        with self._stamp_lock:
            found = [t for t, m, r, b in self.stamps if t >= since and wanted(m, r, b)]
        return min(found) if found else None


def eyes(method: str, route: str, body: Any) -> bool:
    return method == "POST" and route == REACTIONS and (body or {}).get("content") == "eyes"


def hourglass(method: str, route: str, body: Any) -> bool:
    text = (body or {}).get("body", "") if isinstance(body, dict) else ""
    return method in ("POST", "PATCH") and route in COMMENT_ROUTES and "⏳" in text


def first_terraform(log: Path, since: float) -> float | None:
    if not log.exists():
        return None
    stamps = [float(line.split()[0]) for line in log.read_text().splitlines() if line.strip()]
    later = [t for t in stamps if t >= since]
    return min(later) if later else None


def one_run(repo: Repo, standin: StampedStandIn, number: int, env: dict[str, str], log: Path):
    # A new commit and a new PR per run, so each run creates its dashboard as a real one does.
    tf = f'locals {{\n  run{number} = "{number}"\n}}\n'
    (repo.root / "platform" / f"run{number}.tf").write_text(tf)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", f"run {number}")
    head = git(repo.root, "rev-parse", "HEAD")
    repo.open_pr(number, head, [f"platform/run{number}.tf"])

    start = time.time()
    opened = repo.event("pull_request", _pr_payload(repo, number), **env)
    if opened.code != 0:
        raise SystemExit(f"PR event failed:\n{opened.out}{opened.err}")
    pr = (standin.first(start, hourglass), first_terraform(log, start))

    record = standin.add_comment(number, "/plan platform", user="alice")
    from standin import make_event

    payload = make_event(
        "issue_comment",
        "created",
        number=number,
        body="/plan platform",
        user="alice",
        comment_id=record.id,
    )
    start2 = time.time()
    commented = repo.event("issue_comment", payload, **env)
    if commented.code != 0:
        raise SystemExit(f"/plan failed:\n{commented.out}{commented.err}")
    comment = (standin.first(start2, eyes), first_terraform(log, start2))
    return (start, *pr), (start2, *comment)


def _pr_payload(repo: Repo, number: int) -> dict[str, Any]:
    from standin import make_event

    pull = repo.standin.pulls[number]
    return make_event(
        "pull_request",
        "opened",
        number=number,
        head_sha=pull.head_sha,
        base_sha=pull.base_sha,
        author=pull.author.login,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    terraform = shutil.which("terraform")
    if terraform is None:
        raise SystemExit("bench/feedback.py needs a terraform binary on PATH")
    rows: dict[str, list[tuple[float, float | None]]] = {"PR opened -> ⏳": [], "/plan -> 👀": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-feedback-") as tmp,
        StampedStandIn(DEFAULT_REPO) as standin,
    ):
        wrappers = Path(tmp) / "bin"
        wrappers.mkdir()
        log = Path(tmp) / "terraform.log"
        (wrappers / "terraform").write_text(WRAPPER.format(log=log, terraform=terraform))
        (wrappers / "terraform").chmod(0o755)
        standin.set_permission("alice", "maintain")
        gh = {
            "GITHUB_API_URL": standin.api_url,
            "GITHUB_SERVER_URL": standin.url,
            "GITHUB_TOKEN": "ghs_standin_token",
            "GITHUB_REPOSITORY": DEFAULT_REPO,
        }
        repo = make_repo(Path(tmp), standin, gh)
        env = {"PATH": f"{wrappers}{os.pathsep}{repo.env.get('PATH', '')}"}
        for run in range(args.runs):
            pr, comment = one_run(repo, standin, 20 + run, env, log)
            for label, (start, seen, tf) in zip(rows, (pr, comment), strict=True):
                if seen is None:
                    raise SystemExit(f"{label}: no feedback seen in run {run}")
                rows[label].append((seen - start, None if tf is None else tf - start))
        assert standin.violations == [], standin.violations

    print(f"{os.cpu_count()} CPUs, {args.runs} runs, target < {TARGET * 1000:.0f} ms\n")
    print(f"{'event':<16} {'median':>8} {'worst':>8} {'1st terraform':>14}  before Terraform?")
    ok = True
    for label, results in rows.items():
        feedback = [f for f, _ in results]
        terraform_at = [t for _, t in results if t is not None]
        first_tf = statistics.median(terraform_at) if terraform_at else None
        before = all(t is None or f < t for f, t in results)
        ok = ok and max(feedback) < TARGET and before
        tf_text = "-" if first_tf is None else f"{first_tf * 1000:>11.0f}ms"
        print(
            f"{label:<16} {statistics.median(feedback) * 1000:>6.0f}ms "
            f"{max(feedback) * 1000:>6.0f}ms {tf_text:>14}  {'yes' if before else 'NO'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
