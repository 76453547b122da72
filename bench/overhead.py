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

Target: infra within 10% of the shell loop (ratio <= 1.10). Wall time and the CPU time of the
child processes are both printed, since the machine may be shared.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify import APPLY_ONE, INFRA, SCAN_ONE, Timing, best, build, fan_out, setup

TARGET = 1.10


def run_infra(root: Path, argv: list[str], env: dict[str, str], ok: tuple[int, ...]) -> None:
    result = subprocess.run(
        [str(INFRA), *argv], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode not in ok:
        raise SystemExit(f"infra {' '.join(argv)} exited {result.returncode}:\n{result.stdout}")


def bench(
    size: int, jobs: int, runs: int, env: dict[str, str]
) -> dict[str, list[tuple[Timing, Timing]]]:
    results = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-overhead-{size}-") as tmp:
        for case in ("verify", "plan"):
            root = Path(tmp) / case / "repo"
            root.mkdir(parents=True)
            names = build(root, size)
            if case == "verify":
                fan_out(root, APPLY_ONE, names, max(jobs, 8), env)
                argv = ["verify", "--all", "--jobs", str(jobs), "--detailed-exitcode"]
                ok: tuple[int, ...] = (0,)  # all applied: no drift expected
            else:
                argv = ["plan", "all", "--jobs", str(jobs)]
                ok = (0,)

            def shell(root: Path = root, names: list[str] = names) -> None:
                fan_out(root, SCAN_ONE, names, jobs, env)

            shell()  # warm the page cache and .terraform for both sides
            pairs = []
            for _ in range(runs):  # alternated, so that a busy moment hits both sides alike
                infra = best(1, lambda root=root, argv=argv, ok=ok: run_infra(root, argv, env, ok))
                pairs.append((infra, best(1, shell)))
            results[case] = pairs
    return results


def main() -> int:
    args, env = setup(__doc__ or "", "overhead.py")
    header = ("case", "layers", "infra wall", "shell wall", "ratio", "infra CPU", "shell CPU")
    print("{:<7} {:>6}  {:>10}  {:>10}  {:>5}  {:>9}  {:>9}".format(*header))
    ratios = []
    for size in args.sizes:
        for case, pairs in bench(size, args.jobs, args.runs, env).items():
            infra = Timing(min(i.wall for i, _ in pairs), min(i.cpu for i, _ in pairs))
            shell = Timing(min(s.wall for _, s in pairs), min(s.cpu for _, s in pairs))
            ratio = statistics.median(i.wall / s.wall for i, s in pairs)
            ratios.append(ratio)
            print(
                f"{case:<7} {size:>6}  {infra.wall:>9.2f}s  {shell.wall:>9.2f}s  {ratio:>5.2f}"
                f"  {infra.cpu:>8.2f}s  {shell.cpu:>8.2f}s",
                flush=True,
            )
    worst = max(ratios)
    print(f"\nmedian ratio {statistics.median(ratios):.2f}, worst {worst:.2f}, target <= {TARGET}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
