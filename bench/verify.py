"""Time `infra verify --all` against the same Terraform commands run by a plain shell loop.

Run: .venv/bin/python bench/verify.py [--sizes 4 16 64] [--jobs 4] [--runs 3]

For each size N a synthetic repository gets N layers, each a small root module with a few
`terraform_data` resources, applied once (so every plan is a refresh with no changes, the
common case of a drift scan). Then, best of `--runs` each:

- infra: the real `infra` console script, `infra verify --all --jobs J`;
- shell: per layer `init`, `plan -detailed-exitcode -out`, `show -json` (exactly the commands
  the engine runs), as a bash script fanned out by `xargs -P J`: the floor this can approach.

The ratio infra/shell is the cost of everything infra adds (Python start-up, config, the
progress view, reading and fingerprinting the JSON plan, the result table). Wall time and the
CPU time of the child processes are both printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

INFRA = Path(sys.executable).parent / "infra"
RESOURCES = 5


class Timing(NamedTuple):
    wall: float
    cpu: float


LAYER_TF = """\
terraform {{
  required_version = ">= 1.5"
}}

variable "size" {{
  type    = number
  default = {size}
}}

resource "terraform_data" "item" {{
  count = {count}
  input = {{ layer = "{name}", index = count.index, size = var.size }}
}}

resource "terraform_data" "summary" {{
  input = [for item in terraform_data.item : item.output.index]
}}

output "items" {{
  value = length(terraform_data.item)
}}
"""

# The engine's commands for one layer (adapters/terraform.py: init, plan, show), in bash. Each
# Terraform runs in a session of its own (`setsid -w`), as infra starts them
# (adapters/process.py), so that under load neither side is favoured by how it starts them.
SCAN_ONE = """\
set -u
cd "$1"
setsid -w terraform init -input=false -no-color >/dev/null || exit 1
mkdir -p .terraform
setsid -w terraform plan -input=false -no-color -detailed-exitcode -out=.terraform/infra.tfplan \\
  >/dev/null
rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || exit 1
setsid -w terraform show -json -no-color .terraform/infra.tfplan >/dev/null
"""

APPLY_ONE = """\
set -eu
cd "$1"
setsid -w terraform init -input=false -no-color >/dev/null
setsid -w terraform apply -input=false -no-color -auto-approve >/dev/null
"""


def build(root: Path, size: int) -> list[str]:
    names = [f"layer-{i:03d}" for i in range(size)]
    lines = ["version: 1", "layers:"]
    for order, name in enumerate(names, start=1):
        (root / name).mkdir(parents=True)
        (root / name / "main.tf").write_text(
            LAYER_TF.format(name=name, count=RESOURCES - 1, size=order)
        )
        lines.append(f"  {name}: {{path: {name}, order: {order}}}")
    (root / "infra.yaml").write_text("\n".join(lines) + "\n")
    return names


def fan_out(root: Path, script: str, names: list[str], jobs: int, env: dict[str, str]) -> None:
    path = root.parent / "one.sh"
    path.write_text(script)
    result = subprocess.run(
        ["xargs", "-P", str(jobs), "-n", "1", "bash", str(path)],
        input="\n".join(str(root / n) for n in names),
        text=True,
        cwd=root,
        env=env,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the shell loop failed ({result.returncode}):\n{result.stderr}")


def best(runs: int, step: Callable[[], None]) -> Timing:
    """The best wall time and the best CPU time (of the child processes) over `runs`.

    CPU time is reported too because wall time on a shared machine also measures the others.
    """
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), _children_cpu()
        step()
        walls.append(time.perf_counter() - wall)
        cpus.append(_children_cpu() - cpu)
    return Timing(min(walls), min(cpus))


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def bench(size: int, jobs: int, runs: int, env: dict[str, str]) -> tuple[Timing, Timing]:
    with tempfile.TemporaryDirectory(prefix=f"bench-verify-{size}-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        names = build(root, size)
        fan_out(root, APPLY_ONE, names, max(jobs, 8), env)

        def infra() -> None:
            result = subprocess.run(
                [str(INFRA), "verify", "--all", "--jobs", str(jobs), "--detailed-exitcode"],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:  # every layer was applied: no drift is expected
                raise SystemExit(f"infra verify exited {result.returncode}:\n{result.stdout}")

        def shell() -> None:
            fan_out(root, SCAN_ONE, names, jobs, env)

        shell()  # warm the page cache and .terraform for both sides
        return best(runs, infra), best(runs, shell)


def setup(
    doc: str, script: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> tuple[argparse.Namespace, dict[str, str]]:
    """The options and the Terraform environment of a bench against the shell loop, with
    what it runs on printed first (shared with bench/overhead.py, which adds `extra`)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if shutil.which("terraform") is None:
        raise SystemExit(f"bench/{script} needs a terraform binary on PATH")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "NO_COLOR": "1"}
    env.pop("INFRA_EMBEDDED_TERRAFORM", None)
    version = subprocess.run(
        ["terraform", "version"], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()[0]
    load = os.getloadavg()[0]
    jobs, runs = args.jobs, args.runs
    print(f"{version}, {os.cpu_count()} CPUs (load {load:.1f}), --jobs {jobs}, {runs} runs\n")
    return args, env


def main() -> int:
    args, env = setup(__doc__ or "", "verify.py")
    header = ("layers", "infra wall", "shell wall", "ratio", "infra CPU", "shell CPU", "ratio")
    print("{:>6}  {:>10}  {:>10}  {:>5}  {:>9}  {:>9}  {:>5}".format(*header))
    ratios = []
    for size in args.sizes:
        infra, shell = bench(size, args.jobs, args.runs, env)
        ratios.append(infra.wall / shell.wall)
        print(
            f"{size:>6}  {infra.wall:>9.2f}s  {shell.wall:>9.2f}s  {infra.wall / shell.wall:>5.2f}"
            f"  {infra.cpu:>8.2f}s  {shell.cpu:>8.2f}s  {infra.cpu / shell.cpu:>5.2f}"
        )
    print(f"\nmedian wall-time ratio {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
