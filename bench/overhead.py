"""What `infra` adds on top of Terraform: `infra verify --all` and `infra plan all` against
the same Terraform commands run by a plain parallel shell loop, in the same run.

Run: .venv/bin/python bench/overhead.py [--sizes 4 16 64] [--jobs 4] [--runs 3]

The repositories, the shell loop and the timing are bench/verify.py's (see its docstring):
N synthetic layers, and per layer exactly the engine's `init`, `plan -detailed-exitcode -out`
and `show -json`, fanned out by `xargs -P J`. Two cases per size, `--runs` each, infra and
the shell loop alternated (best times shown; the ratio is the median of the pairs' ratios):

- verify: every layer applied beforehand, so each plan is a refresh with no changes (a drift
  scan, the push-to-main job);
- plan: nothing applied, so every layer plans 5 resources to create (a PR's plan): the JSON
  plan is read and fingerprinted and the plan text printed.

Each side works in its own copy of the repository (its own `.terraform` and state), so that
the loop's `init` never touches what infra's init reuse relies on. With `--baseline OTHER_INFRA`
(another checkout's `infra`, e.g. the commit before a change) that one runs too, in a third
copy, alternating with the others: before and after in one run. The ratios are medians of
the per-round ratios; their interquartile range is given as the noise. Targets (issue 18):
verify <= 1.0 at 4 layers and <= 0.6 at 16 and 64; plan <= 1.0, 0.7, 0.7. `--json FILE`
writes the figures for bench/report.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paired import quartiles
from verify import APPLY_ONE, INFRA, SCAN_ONE, Timing, best, build, fan_out, setup

TARGETS = {("verify", 4): 1.0, ("verify", 16): 0.6, ("verify", 64): 0.6}
TARGETS |= {("plan", 4): 1.0, ("plan", 16): 0.7, ("plan", 64): 0.7}


def run_infra(
    infra: Path, root: Path, argv: list[str], env: dict[str, str], ok: tuple[int, ...]
) -> None:
    result = subprocess.run(
        [str(infra), *argv], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode not in ok:
        raise SystemExit(f"infra {' '.join(argv)} exited {result.returncode}:\n{result.stdout}")


def bench(
    size: int, jobs: int, runs: int, env: dict[str, str], baseline: Path | None
) -> dict[str, dict[str, list[Timing]]]:
    """Per case, each side's timings, round by round (`infra`, `shell`, maybe `baseline`)."""
    results = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-overhead-{size}-") as tmp:
        for case in ("verify", "plan"):
            root = Path(tmp) / case / "repo"
            root.mkdir(parents=True)
            names = build(root, size)
            if case == "verify":
                fan_out(root, APPLY_ONE, names, max(jobs, 8), env)
                argv = ["verify", "--all", "--jobs", str(jobs), "--detailed-exitcode"]
            else:
                argv = ["plan", "all", "--jobs", str(jobs)]
            ok = (0,)  # verify: all applied, no drift expected; plan: changes are no failure
            copies = {"infra": Path(tmp) / case / "infra", "shell": Path(tmp) / case / "shell"}
            if baseline is not None:
                copies["baseline"] = Path(tmp) / case / "baseline"
            for copy in copies.values():
                copy.mkdir()
                shutil.copytree(root, copy / "repo", symlinks=True)
            steps = {
                "shell": lambda r=copies["shell"] / "repo", n=names: fan_out(
                    r, SCAN_ONE, n, jobs, env
                ),
                "infra": lambda r=copies["infra"] / "repo", a=argv, o=ok: run_infra(
                    INFRA, r, a, env, o
                ),
            }
            if baseline is not None:
                steps["baseline"] = lambda r=copies["baseline"] / "repo", a=argv, o=ok: run_infra(
                    baseline, r, a, env, o
                )
            for step in steps.values():
                step()  # warm the page cache and each copy's .terraform
            timings: dict[str, list[Timing]] = {side: [] for side in steps}
            for round_ in range(runs):  # alternated, so that a busy moment hits all sides alike
                order = list(steps.items())
                order = order[round_ % len(order) :] + order[: round_ % len(order)]
                for side, step in order:
                    timings[side].append(best(1, step))
            results[case] = timings
    return results


def main() -> int:
    args, env = setup(__doc__ or "", "overhead.py", extra=_options)
    header = (
        "case",
        "layers",
        "infra wall",
        "shell wall",
        "ratio",
        "IQR",
        "infra CPU",
        "shell CPU",
    )
    print("{:<7} {:>6}  {:>10}  {:>10}  {:>5}  {:>11}  {:>9}  {:>9}".format(*header))
    rows = []
    for size in args.sizes:
        for case, timings in bench(size, args.jobs, args.runs, env, args.baseline).items():
            row = _row(case, size, timings)
            rows.append(row)
            low, high = row["ratio_iqr"]
            print(
                f"{case:<7} {size:>6}  {row['infra_wall']:>9.2f}s  {row['shell_wall']:>9.2f}s"
                f"  {row['ratio']:>5.2f}  {low:>5.2f}-{high:<5.2f}"
                f"  {row['infra_cpu']:>8.2f}s  {row['shell_cpu']:>8.2f}s"
                + (
                    f"  (baseline ratio {row['baseline_ratio']:.2f})"
                    if "baseline_ratio" in row
                    else ""
                ),
                flush=True,
            )
    missed = [r for r in rows if r["ratio"] > TARGETS.get((r["case"], r["layers"]), 1.0)]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} within their targets")
    if args.json:
        args.json.write_text(json.dumps(rows))
    return 0 if not missed else 1


def _row(case: str, size: int, timings: dict[str, list[Timing]]) -> dict[str, object]:
    shell = timings["shell"]
    row: dict[str, object] = {"case": case, "layers": size, "runs": len(shell)}
    row["shell_wall"] = statistics.median(t.wall for t in shell)
    row["shell_cpu"] = statistics.median(t.cpu for t in shell)
    for side in ("infra", "baseline"):
        if side not in timings:
            continue
        ratios = [t.wall / s.wall for t, s in zip(timings[side], shell, strict=True)]
        prefix = "" if side == "infra" else "baseline_"
        row[f"{side}_wall"] = statistics.median(t.wall for t in timings[side])
        row[f"{side}_cpu"] = statistics.median(t.cpu for t in timings[side])
        row[f"{prefix}ratio"] = statistics.median(ratios)
        row[f"{prefix}ratio_iqr"] = quartiles(ratios)
    return row


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, help="another `infra` to run alongside")
    parser.add_argument("--json", type=Path, help="also write the figures here")


if __name__ == "__main__":
    raise SystemExit(main())
