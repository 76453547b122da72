"""Time `infra plan` of one 10,000-resource layer against Terraform's own `plan` + `show -json`.

Run: .venv/bin/python bench/large_plan.py [--resources 10000] [--runs 3] [--baseline OTHER_INFRA]

One layer of `terraform_data` resources, initialised once, nothing applied (so the plan
creates them all: a 3.5 MB plan text). Round by round, alternating: `infra plan LAYER`, and
Terraform alone doing what infra needs of it (`plan -out` then `show -json` of that plan),
and with `--baseline` another checkout's `infra` too (before and after in one run). The ratio
is the median of the per-round ratios infra / Terraform, with their spread. Target (issue 18):
<= 1.3. `--json FILE` writes the figures for bench/report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from paired import quartiles

INFRA = Path(sys.executable).parent / "infra"
TARGET = 1.3
LAYER = """\
resource "terraform_data" "item" {{
  count = {count}
  input = {{ index = count.index, name = "item-${{count.index}}" }}
}}
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr!r}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another `infra` to run alongside")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("terraform") is None:
        raise SystemExit("bench/large_plan.py needs a terraform binary on PATH")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "NO_COLOR": "1"}
    env.pop("INFRA_EMBEDDED_TERRAFORM", None)
    with tempfile.TemporaryDirectory(prefix="bench-large-plan-") as tmp:
        copies = {"infra": Path(tmp) / "infra", "terraform": Path(tmp) / "terraform"}
        if args.baseline:
            copies["baseline"] = Path(tmp) / "baseline"
        for root in copies.values():
            (root / "big").mkdir(parents=True)
            (root / "big" / "main.tf").write_text(LAYER.format(count=args.resources))
            (root / "infra.yaml").write_text("version: 1\nlayers:\n  big: {path: big, order: 1}\n")
            timed(["terraform", "init", "-input=false", "-no-color"], root / "big", env)
        plan_file = copies["terraform"] / "big" / "p.tfplan"

        def terraform_alone() -> float:
            cwd = copies["terraform"] / "big"
            return timed(
                ["terraform", "plan", "-input=false", "-no-color", f"-out={plan_file}"], cwd, env
            ) + timed(["terraform", "show", "-json", "-no-color", str(plan_file)], cwd, env)

        sides: dict[str, Callable[[], float]] = {
            "infra": lambda: timed([str(INFRA), "plan", "big"], copies["infra"], env),
            "terraform": terraform_alone,
        }
        if args.baseline:
            baseline = args.baseline
            sides["baseline"] = lambda: timed(
                [str(baseline), "plan", "big"], copies["baseline"], env
            )
        load = os.getloadavg()[0]
        print(
            f"{args.resources} resources, {os.cpu_count()} CPUs (load {load:.1f}), {args.runs} runs"
        )
        times: dict[str, list[float]] = {side: [] for side in sides}
        for round_ in range(args.runs):
            order = list(sides.items())
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for side, step in order:
                times[side].append(step())
    row: dict[str, object] = {"resources": args.resources, "runs": args.runs}
    for side, values in times.items():
        row[side] = statistics.median(values)
    for side in ("infra", "baseline"):
        if side in times:
            ratios = [a / b for a, b in zip(times[side], times["terraform"], strict=True)]
            prefix = "" if side == "infra" else "baseline_"
            row[f"{prefix}ratio"] = statistics.median(ratios)
            row[f"{prefix}ratio_iqr"] = quartiles(ratios)
    print(
        f"infra plan {row['infra']:.1f} s, Terraform plan + show -json {row['terraform']:.1f} s: "
        f"ratio {row['ratio']:.2f}, target <= {TARGET}"
        + (
            f" (baseline: {row['baseline']:.1f} s, ratio {row['baseline_ratio']:.2f})"
            if "baseline" in row
            else ""
        )
    )
    if args.json:
        args.json.write_text(json.dumps(row))
    return 0 if float(row["ratio"]) <= TARGET else 1  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
