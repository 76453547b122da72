"""Count the GitHub API requests of each story, as the GitHub stand-in serves them.

Run: .venv/bin/python bench/api_cost.py [--routes]

Stories, each `infra event` run as GitHub Actions runs it (a subprocess with the job's
environment, real Terraform on the bundled example, the stand-in as GitHub):

- PR opened touching 1 layer, then another touching all 4, through the automatic CI Validate
  and plan (the difference is what grows with layers);
- `/plan` on it (the 4 touched layers again);
- `/apply bootstrap platform` (2 layers);
- a push to `main` with drift in one layer (scan, ordered apply, summary on the merged PR).

Every request the stand-in answered is counted, retries included. `--routes` prints where
they went. The Atlantis column is what one comment and one commit status per project costs
for the same story (writes only, so it flatters Atlantis: its reads are not counted).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from homelab import add_node  # noqa: E402
from mainline import applied_example, push_to_main  # noqa: E402
from prstory import Repo, make_repo  # noqa: E402
from standin import DEFAULT_REPO, GitHubStandIn  # noqa: E402

PR = 7
TARGET_PR_OPEN = 11  # issue 18: from 15
WRITES = ("POST", "PATCH", "PUT", "DELETE")
# One file of each layer's code (the Terragrunt units' is in modules/), so the PR touches all four.
EDITS = [
    ("bootstrap/main.tf", '"home-1"', '"home-2"'),
    ("modules/platform/main.tf", "replicas    = 2", "replicas    = 3"),
    ("modules/data-staging/main.tf", '"small"', '"medium"'),
    ("modules/data-prod/main.tf", "replicas    = 3", "replicas    = 4"),
]


def gh_env(standin: GitHubStandIn) -> dict[str, str]:
    return {
        "GITHUB_API_URL": standin.api_url,
        "GITHUB_SERVER_URL": standin.url,
        "GITHUB_TOKEN": "ghs_standin_token",
        "GITHUB_REPOSITORY": DEFAULT_REPO,
        "GITHUB_RUN_ID": "4242",
    }


class Meter:
    """The stand-in's requests since the last `take()`."""

    def __init__(self, standin: GitHubStandIn) -> None:
        self.standin = standin
        self.seen = 0

    def take(self) -> Counter[tuple[str, str]]:
        log = self.standin.log[self.seen :]
        self.seen += len(log)
        return Counter((r.method, r.route) for r in log)


def writes(counts: Counter[tuple[str, str]]) -> int:
    return sum(n for (method, route), n in counts.items() if method in WRITES or "graphql" in route)


def pr_stories(tmp: Path) -> list[tuple[str, Counter[tuple[str, str]], int]]:
    with GitHubStandIn(DEFAULT_REPO) as standin:
        standin.set_permission("alice", "maintain")
        repo: Repo = make_repo(tmp, standin, gh_env(standin))
        meter = Meter(standin)
        stories = []

        # The same story on one layer first: what grows with the number of layers.
        path, old, new = EDITS[1]
        head = repo.commit(path, old, new, f"change {path}")
        repo.open_pr(PR - 1, head, [path])
        meter.take()
        opened = repo.pr_event(PR - 1)
        check(opened.code, opened.out + opened.err)
        stories.append(("PR opened, 1 layer, auto plan", meter.take(), 1))

        for path, old, new in EDITS[:1] + EDITS[2:]:
            head = repo.commit(path, old, new, f"change {path}")
        repo.open_pr(PR, head, [path for path, _, _ in EDITS])
        meter.take()
        opened = repo.pr_event(PR)
        check(opened.code, opened.out + opened.err)
        stories.append(("PR opened, 4 layers, auto plan", meter.take(), 4))

        planned, _ = repo.comment(PR, "/plan", "alice")
        check(planned.code, planned.out + planned.err)
        stories.append(("/plan (4 layers)", meter.take(), 4))

        applied, _ = repo.comment(PR, "/apply bootstrap platform", "alice")
        check(applied.code, applied.out + applied.err)
        stories.append(("/apply bootstrap platform", meter.take(), 2))
        assert standin.violations == [], standin.violations
        return stories


def push_story(tmp: Path) -> tuple[str, Counter[tuple[str, str]], int]:
    with GitHubStandIn(DEFAULT_REPO) as standin:
        from mainline import MERGE_SHA

        root = applied_example(tmp)
        standin.add_pull(12, state="closed", merged=True, merge_commit_sha=MERGE_SHA)
        add_node(root, "node-4")  # drift in bootstrap only
        meter = Meter(standin)
        job = push_to_main(root, gh_env(standin))
        check(job.code, job.out)
        assert standin.violations == [], standin.violations
        return ("push to main, drift in 1 of 4", meter.take(), 1)


def check(code: int, output: str) -> None:
    if code != 0:
        raise SystemExit(f"the story failed (exit {code}):\n{output}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", action="store_true", help="print requests by route")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        stories = pr_stories(Path(tmp) / "pr")
        stories.append(push_story(Path(tmp) / "push"))

    print(f"{'story':<34} {'requests':>8} {'writes':>6} {'reads':>5}  {'Atlantis writes':>15}")
    for name, counts, layers in stories:
        total, wrote = sum(counts.values()), writes(counts)
        # Atlantis: a comment and a commit status per project the command covers.
        print(f"{name:<34} {total:>8} {wrote:>6} {total - wrote:>5}  {2 * layers:>15}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    name: {"requests": sum(counts.values()), "writes": writes(counts)}
                    for name, counts, _ in stories
                }
            )
        )
    opened = sum(stories[1][1].values())
    verdict = "ok" if opened <= TARGET_PR_OPEN else "OVER"
    print(f"\nPR-open story: {opened} requests, target <= {TARGET_PR_OPEN}: {verdict}")
    if args.routes:
        for name, counts, _ in stories:
            print(f"\n{name}")
            for (method, route), n in sorted(counts.items(), key=lambda kv: -kv[1]):
                print(f"  {n:>3}  {method:<6} {route}")
    return 0 if opened <= TARGET_PR_OPEN else 1


if __name__ == "__main__":
    raise SystemExit(main())
