"""Wall time of the job a pull request's opening starts, against the GitHub stand-in.

Run: .venv/bin/python bench/pr_job.py [--runs 5] [--baseline OTHER_CHECKOUT]

The bundled example in a real git repository, the stand-in as GitHub, and `infra event` run
as GitHub Actions runs it (a new process with the job's environment): each round commits a
change to all 4 layers and opens a pull request for it, and the job validates and plans them
(real Terraform) and writes the dashboard. Timed from spawning the job to its exit.

With `--baseline`, another checkout's `src` runs the same story in a repository and stand-in
of its own, the two alternating round by round: before and after in one run. The figures are
the medians of each side and of the per-round differences, with their spread. `--json FILE`
writes them for bench/report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from api_cost import EDITS, gh_env  # noqa: E402
from paired import quartiles  # noqa: E402

from prstory import Repo, git, make_repo  # noqa: E402
from standin import DEFAULT_REPO, GitHubStandIn  # noqa: E402


def open_and_time(repo: Repo, number: int, src: Path | None) -> float:
    # A branch of its own off main each time, so that every pull request changes all 4 layers
    # (GitHub, and `git diff`, list what differs from where the branch forked).
    git(repo.root, "checkout", "-qB", f"pr-{number}", "main")
    for path, old, new in EDITS:
        head = repo.commit(path, old, new, f"#{number}: change {path}")
    repo.open_pr(number, head, [path for path, _, _ in EDITS])
    extra = {"PYTHONPATH": str(src)} if src is not None else {}
    start = time.perf_counter()
    job = repo.event("pull_request", repo.pr_payload(number), **extra)
    elapsed = time.perf_counter() - start
    if job.code != 0:
        raise SystemExit(f"the PR job failed (exit {job.code}):\n{job.out}{job.err}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout, whose src/ to run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sources: dict[str, Path | None] = {"infra": None}
    if args.baseline:
        sources["baseline"] = args.baseline.resolve() / "src"
    times: dict[str, list[float]] = {side: [] for side in sources}
    with tempfile.TemporaryDirectory(prefix="bench-pr-job-") as tmp:
        standins = {side: GitHubStandIn(DEFAULT_REPO) for side in sources}
        try:
            repos = {}
            for side, standin in standins.items():
                standin.start()
                repos[side] = make_repo(Path(tmp) / side, standin, gh_env(standin))
            # One warm-up round each: Terraform's first init of each layer is not the job's.
            for side, repo in repos.items():
                open_and_time(repo, 1, sources[side])
            for round_ in range(args.runs):
                order = list(repos.items())
                if round_ % 2:
                    order.reverse()
                for side, repo in order:
                    number = 2 + round_
                    times[side].append(open_and_time(repo, number, sources[side]))
        finally:
            for standin in standins.values():
                standin.stop()
    row: dict[str, object] = {"runs": args.runs, "load": os.getloadavg()[0]}
    for side, values in times.items():
        row[side] = statistics.median(values)
    text = f"PR opened, 4 layers: {row['infra']:.2f} s (median of {args.runs})"
    if "baseline" in times:
        saved = [b - n for n, b in zip(times["infra"], times["baseline"], strict=True)]
        row["saved"] = statistics.median(saved)
        row["saved_iqr"] = quartiles(saved)
        low, high = row["saved_iqr"]  # type: ignore[misc]
        text += (
            f"; baseline {row['baseline']:.2f} s; saved {row['saved']:.2f} s per job"
            f" (IQR {low:.2f}-{high:.2f})"
        )
    print(text)
    if args.json:
        args.json.write_text(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
