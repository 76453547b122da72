"""Run the issue-18 benchmarks against a baseline checkout and write their table into
docs/performance.md.

Run: .venv/bin/python bench/report.py --baseline /path/to/other/checkout [--runs 5]

The baseline is another checkout of this repository (the commit before the work being
measured) with its own `.venv`. Every row is measured in this one run, beside its baseline:
the shell loop and Terraform alone run in the same rounds as both `infra`s, and the two
`infra`s alternate round by round, so that a busy moment of a shared machine hits all sides
alike. Ratios are medians of per-round ratios; the interquartile range of those is the noise.
What it writes replaces the text between the `bench/report.py` markers of
docs/performance.md; nothing in that block is written by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench/report.py: start -->", "<!-- bench/report.py: end -->"
PR_OPEN = "PR opened, 4 layers, auto plan"


def run(argv: list[str], cwd: Path = ROOT) -> str:
    print("$", " ".join(argv), flush=True)
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    sys.stdout.write(result.stdout)
    if result.returncode not in (0, 1):  # 1: a target missed, which the table says
        raise SystemExit(f"{argv[1]} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def baseline_api_counts(baseline: Path) -> dict[str, int]:
    """The baseline's own bench/api_cost.py, as it prints its table."""
    out = run([str(baseline / ".venv" / "bin" / "python"), "bench/api_cost.py"], cwd=baseline)
    counts = {}
    for line in out.splitlines():
        found = re.match(r"(.+?)\s{2,}(\d+)\s+\d+\s+\d+\s+\d+$", line)
        if found:
            counts[found.group(1).strip()] = int(found.group(2))
    return counts


def commit(checkout: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True
    ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--loop-runs", type=int, default=3, help="rounds of the slow benches")
    args = parser.parse_args()
    baseline = args.baseline.resolve()
    old_infra = baseline / ".venv" / "bin" / "infra"
    py = sys.executable
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = Path(tmp)
        run(
            [
                py,
                "bench/startup.py",
                "--runs",
                str(args.runs * 2),
                "--baseline",
                str(old_infra),
                "--json",
                str(out / "startup.json"),
            ]
        )
        loads.append(os.getloadavg()[0])
        run([py, "bench/api_cost.py", "--json", str(out / "api.json")])
        old_api = baseline_api_counts(baseline)
        loads.append(os.getloadavg()[0])
        run(
            [
                py,
                "bench/pr_job.py",
                "--runs",
                str(args.runs),
                "--baseline",
                str(baseline),
                "--json",
                str(out / "pr_job.json"),
            ]
        )
        loads.append(os.getloadavg()[0])
        run(
            [
                py,
                "bench/large_plan.py",
                "--runs",
                str(args.loop_runs),
                "--baseline",
                str(old_infra),
                "--json",
                str(out / "large.json"),
            ]
        )
        loads.append(os.getloadavg()[0])
        run(
            [
                py,
                "bench/overhead.py",
                "--sizes",
                *map(str, args.sizes),
                "--runs",
                str(args.loop_runs),
                "--baseline",
                str(old_infra),
                "--json",
                str(out / "overhead.json"),
            ]
        )
        loads.append(os.getloadavg()[0])
        figures = {
            name: json.loads((out / f"{name}.json").read_text())
            for name in ("startup", "api", "pr_job", "large", "overhead")
        }
    block = render(figures, old_api, commit(ROOT), commit(baseline), loads, args.runs)
    text = DOC.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(f"{before}{START}\n{block}\n{END}{after}", encoding="utf-8")
    print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 0


def _iqr(pair: list[float], digits: int = 2) -> str:
    return f"{pair[0]:.{digits}f}–{pair[1]:.{digits}f}"


def render(
    f: dict[str, Any], old_api: dict[str, int], head: str, base: str, loads: list[float], runs: int
) -> str:
    overhead = {(r["case"], r["layers"]): r for r in f["overhead"]}
    sizes = sorted({size for _, size in overhead})

    def loop_row(case: str, label: str, targets: str) -> str:
        rows = [overhead[(case, size)] for size in sizes]
        before = " · ".join(f"{r['baseline_ratio']:.2f}" for r in rows)
        after = " · ".join(f"{r['ratio']:.2f}" for r in rows)
        noise = " · ".join(_iqr(r["ratio_iqr"]) for r in rows)
        layers = " · ".join(map(str, sizes))
        return f"| {label} / loop, {layers} layers | {before} | {after} | {targets} | {noise} |"

    start = f["startup"]["rows"][0]
    large, pr, api = f["large"], f["pr_job"], f["api"]
    lines = [
        f"Measured by `bench/report.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: this commit"
        f" (`{head}`) against `{base}`, {os.cpu_count()} CPUs, Terraform on PATH; load average"
        f" {min(loads):.0f}–{max(loads):.0f} during the run (a machine shared with other work:"
        " the wall times are long, the ratios are what to read).",
        "",
        "| figure | before | after | target | noise (IQR of the paired ratios) |",
        "|:---|---:|---:|:---|:---|",
        loop_row("verify", "`verify --all`", "≤ 1.0 · ≤ 0.6 · ≤ 0.6"),
        loop_row("plan", "`plan all`", "≤ 1.0 · ≤ 0.7 · ≤ 0.7"),
        f"| {large['resources']:,}-resource layer, `infra plan` / Terraform's plan + show"
        f" | {large['baseline_ratio']:.2f} | {large['ratio']:.2f} | ≤ 1.3"
        f" | {_iqr(large['ratio_iqr'])} ({large['runs']} rounds) |",
        f"| process start → first Terraform command (wall; CPU)"
        f" | {start['baseline'] * 1000:.0f} ms; {start['baseline_cpu'] * 1000:.0f} ms"
        f" | {start['infra'] * 1000:.0f} ms; {start['infra_cpu'] * 1000:.0f} ms | ≤ 80 ms"
        f" | after/before {start['ratio']:.2f} ({_iqr(start['ratio_iqr'])}); CPU"
        f" {start['cpu_ratio']:.2f} ({_iqr(start['cpu_ratio_iqr'])}), {runs * 2} rounds |",
        f"| API requests, PR opened (4 layers) through its auto plan"
        f" | {old_api.get(PR_OPEN, '?')} | {api[PR_OPEN]['requests']} | ≤ 11 | none: counted |",
        f"| wall time of a PR-opened job against the stand-in (4 layers)"
        f" | {pr['baseline']:.2f} s | {pr['infra']:.2f} s | −1 s or better"
        f" | saved {pr['saved']:.2f} s per job ({_iqr(pr['saved_iqr'])} s), {pr['runs']} rounds |",
        "",
        "API requests per story, before and after (every request the stand-in served, retries"
        " included):",
        "",
        "| story | before | after | writes after |",
        "|:---|---:|---:|---:|",
    ]
    for name, counts in api.items():
        lines.append(
            f"| {name} | {old_api.get(name, '?')} | {counts['requests']} | {counts['writes']} |"
        )
    lines += [
        "",
        "The loop rows in detail (median wall and CPU time of each side; the loop is the shell"
        " loop of `bench/overhead.py`):",
        "",
        "| case | layers | infra | before | loop | infra CPU | loop CPU |",
        "|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for (case, size), r in sorted(overhead.items()):
        lines.append(
            f"| {case} | {size} | {r['infra_wall']:.2f} s | {r['baseline_wall']:.2f} s"
            f" | {r['shell_wall']:.2f} s | {r['infra_cpu']:.2f} s | {r['shell_cpu']:.2f} s |"
        )
    lines += [
        "",
        "Start-up, whole processes (median wall; CPU):",
        "",
        "| command | before | after |",
        "|:---|---:|---:|",
    ]
    for row in f["startup"]["rows"]:
        old_ms, old_cpu = row["baseline"] * 1000, row["baseline_cpu"] * 1000
        new_ms, new_cpu = row["infra"] * 1000, row["infra_cpu"] * 1000
        lines.append(
            f"| {row['case']} | {old_ms:.0f} ms; {old_cpu:.0f} ms"
            f" | {new_ms:.0f} ms; {new_cpu:.0f} ms |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
