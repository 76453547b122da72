"""Time `infra` start-up as whole processes: from process start to the first Terraform command.

Run: .venv/bin/python bench/startup.py [--runs 20] [--baseline OTHER/.venv/bin/infra]

What a user waits for before any Terraform work: `infra plan all` on a repository of one
initialised layer, timed from just before the process is spawned to the moment a `terraform`
wrapper on PATH is started (it stamps the time, then runs the real Terraform). Also timed
whole: `infra --help`, an ignored `infra event` (a `release` event, which ci.yml never
subscribes to), and a bare `python -c pass` as the floor.

Each case runs `--runs` times after two warm-up runs (so the page cache holds the package,
and its bytecode is written).
With `--baseline`, the same cases run with that other `infra` (another checkout's venv), the
two alternating run by run so that a busy moment of a shared machine hits both alike; the
table gives each side's median and the median of the paired ratios, with the spread (the
25th-75th percentile of the ratios) as the noise. For what the time goes to, run
`python -X importtime -m infra_pipeline plan all` in such a repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paired import quartiles

INFRA = Path(sys.executable).parent / "infra"
TARGET = 0.080  # process start to the first Terraform command
# Stamps the wall clock and the CPU time infra (its parent) has used so far: CPU time is what
# a busy machine distorts least.
WRAPPER = """#!/bin/sh
read -r stat < /proc/$PPID/stat
echo "$(date +%s.%N) ${{stat##*) }}" >> "{log}"
exec "{terraform}" "$@"
"""
TICK = os.sysconf("SC_CLK_TCK")
LAYER = 'resource "terraform_data" "x" {\n  input = 1\n}\n'


def first_terraform(
    argv: list[str], cwd: Path, env: dict[str, str], log: Path
) -> tuple[float, float]:
    """Seconds from spawning `argv` to its first Terraform command, and the CPU seconds it had
    used by then (10 ms resolution)."""
    log.write_text("")
    start = time.time()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    lines = log.read_text().splitlines()
    if not lines:
        raise SystemExit(f"{' '.join(argv)} ran no Terraform command")
    stamp, *stat = lines[0].split()
    # /proc/PID/stat after the command name: utime and stime are its 12th and 13th fields.
    cpu = (int(stat[11]) + int(stat[12])) / TICK
    return float(stamp) - start, cpu


def whole(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of `argv` run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def summarise(label: str, times: dict[str, list[tuple[float, float]]]) -> dict[str, object]:
    """Each side's median wall and CPU time; with a baseline, the median of the paired ratios
    and their interquartile range (the noise)."""
    row: dict[str, object] = {"case": label}
    for side, pairs in times.items():
        row[side] = statistics.median(w for w, _ in pairs)
        row[f"{side}_cpu"] = statistics.median(c for _, c in pairs)
    if "baseline" in times:
        for kind, index in (("ratio", 0), ("cpu_ratio", 1)):
            ratios = [
                new[index] / old[index]
                for new, old in zip(times["infra"], times["baseline"], strict=True)
                if old[index] > 0
            ]
            row[kind] = statistics.median(ratios)
            row[f"{kind}_iqr"] = quartiles(ratios)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another `infra` to run alternately")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    terraform = shutil.which("terraform")
    if terraform is None:
        raise SystemExit("bench/startup.py needs a terraform binary on PATH")
    sides = {"infra": INFRA} | ({"baseline": args.baseline} if args.baseline else {})
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root, bin_dir, log = Path(tmp) / "repo", Path(tmp) / "bin", Path(tmp) / "stamps"
        (root / "one").mkdir(parents=True)
        (root / "one" / "main.tf").write_text(LAYER)
        (root / "infra.yaml").write_text("version: 1\nlayers:\n  one: {path: one, order: 1}\n")
        bin_dir.mkdir()
        (bin_dir / "terraform").write_text(WRAPPER.format(log=log, terraform=terraform))
        (bin_dir / "terraform").chmod(0o755)
        payload = Path(tmp) / "event.json"
        payload.write_text(json.dumps({"action": "published"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INFRA_"))}
        # The warm-up runs write each side's bytecode, as an installed package has it: with
        # PYTHONDONTWRITEBYTECODE set (a developer's shell, CI), a checkout whose modules
        # changed since they were last compiled compiled them again in every timed run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env |= {"PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "TF_IN_AUTOMATION": "1"}
        event_env = {**env, "GITHUB_EVENT_NAME": "release", "GITHUB_EVENT_PATH": str(payload)}
        subprocess.run(
            ["terraform", "init", "-input=false"],
            cwd=root / "one",
            env=env,
            capture_output=True,
            check=True,
        )

        cases: list[tuple[str, Callable[[Path], tuple[float, float]]]] = [
            (
                "process start → first Terraform command (`infra plan all`, 1 layer)",
                lambda infra: first_terraform([str(infra), "plan", "all"], root, env, log),
            ),
            ("`infra --help`", lambda infra: whole([str(infra), "--help"], root, env)),
            (
                "`infra event` (an ignored event)",
                lambda infra: whole([str(infra), "event"], root, event_env),
            ),
        ]
        floor = [whole([sys.executable, "-c", "pass"], root, env)[0] for _ in range(args.runs)]
        print(f"{os.cpu_count()} CPUs, {args.runs} runs each, load {os.getloadavg()[0]:.1f}\n")
        print(f"`python -c pass` (the floor): median {statistics.median(floor) * 1000:.0f} ms\n")
        results = []
        for label, measure in cases:
            times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
            for attempt in range(args.runs + 2):
                order = list(sides.items())
                if attempt % 2:
                    order.reverse()
                for side, infra in order:
                    taken = measure(infra)
                    if attempt >= 2:
                        times[side].append(taken)
            row = summarise(label, times)
            results.append(row)
            print(_line(row), flush=True)
        first = float(results[0]["infra"])  # type: ignore[arg-type]
        verdict = "ok" if first <= TARGET else "OVER"
        print(
            f"\nfirst Terraform command after {first * 1000:.0f} ms (median), "
            f"target <= {TARGET * 1000:.0f} ms: {verdict}"
        )
        if args.json:
            args.json.write_text(json.dumps({"load": os.getloadavg()[0], "rows": results}))
    return 0 if verdict == "ok" else 1


def _line(row: dict[str, Any]) -> str:
    text = f"{row['case']}: {row['infra'] * 1000:.0f} ms ({row['infra_cpu'] * 1000:.0f} ms CPU)"
    if "baseline" in row:
        low, high = row["ratio_iqr"]
        cpu_low, cpu_high = row["cpu_ratio_iqr"]
        text += (
            f"; baseline {row['baseline'] * 1000:.0f} ms ({row['baseline_cpu'] * 1000:.0f} ms CPU)"
            f"; ratio {row['ratio']:.2f} (IQR {low:.2f}-{high:.2f}),"
            f" CPU ratio {row['cpu_ratio']:.2f} (IQR {cpu_low:.2f}-{cpu_high:.2f})"
        )
    return text


if __name__ == "__main__":
    raise SystemExit(main())
