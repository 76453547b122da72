"""Time `infra` start-up as whole processes: `infra --help` and an ignored `infra event`.

Run: .venv/bin/python bench/startup.py [--runs 20]

Each command is run `--runs` times after two warm-up runs (so the page cache holds the
package); the median and the best wall time are printed, with a bare `python -c pass` as the
floor. The ignored event is a `release` event, which ci.yml never subscribes to but which
shows the path every unhandled event takes: read the payload, log one line, exit 0. For
what the time goes to, run `python -X importtime -m infra_pipeline event` with the same
environment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INFRA = Path(sys.executable).parent / "infra"
TARGET = 0.300


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """(median, best) wall time in seconds of `argv` run as a process."""
    times = []
    for attempt in range(runs + 2):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        if attempt >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        payload = Path(tmp) / "event.json"
        payload.write_text(json.dumps({"action": "published"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        event_env = {**env, "GITHUB_EVENT_NAME": "release", "GITHUB_EVENT_PATH": str(payload)}
        cases = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], env),
            ("infra --help", [str(INFRA), "--help"], env),
            ("infra event (ignored)", [str(INFRA), "event"], event_env),
        ]
        print(f"{os.cpu_count()} CPUs, {args.runs} runs each\n")
        print(f"{'command':<24} {'median':>8} {'best':>8}  target < {TARGET * 1000:.0f} ms")
        ok = True
        for label, argv, case_env in cases:
            median, best = timed(argv, case_env, args.runs)
            verdict = "" if label.endswith("(floor)") else "ok" if median < TARGET else "OVER"
            ok = ok and verdict != "OVER"
            print(f"{label:<24} {median * 1000:>6.0f}ms {best * 1000:>6.0f}ms  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
