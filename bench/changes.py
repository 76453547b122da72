"""Time `touched_layers` on a synthetic monorepo: 1,000 layers, 20,000 changed files.

Run: .venv/bin/python bench/changes.py

Layers live at `stacks/team<t>/layer<i>`; each calls a module of its own, one of 40 shared
modules (each of which calls one of 5 common modules), and every tenth layer is a Terragrunt
unit. Every 25th layer has watch globs. Three change sets are timed, best of 5 each:

- spread: files across 300 layers, all 40 shared modules and docs; the other 700 layers are
  reached only through a shared module, so each is confirmed with the HCL parser (the worst
  case: parsing dominates);
- layers-only: files in layer directories only (no module parsing needed);
- common-module: every file under one common module, reached by 200 layers through 8 shared
  modules (every layer's files are scanned; 200 are parsed).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from infra_pipeline.core.changes import LayerSpec, touched_layers

LAYERS = 1_000
TEAMS = 50
SHARED = 40
COMMON = 5
FILES = 20_000
RUNS = 5

MAIN_TF = """\
terraform {{
  required_version = ">= 1.5"
}}

module "own" {{
  source = "./modules/own"
  name   = var.name
}}

module "shared" {{
  source = "../../../modules/shared{shared}"
  tags   = {{ team = "team{team}", layer = "{index}" }}
}}

module "vpc" {{
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.0.0"
}}

resource "aws_s3_bucket" "logs" {{
  bucket = "${{var.name}}-logs"
  count  = 2
}}
"""
TERRAGRUNT = """\
include "root" {{
  path = find_in_parent_folders()
}}

terraform {{
  source = "../../../modules//shared{shared}"
}}

inputs = {{
  name = "layer{index}"
}}
"""


def layer_path(index: int) -> str:
    return f"stacks/team{index % TEAMS}/layer{index}"


def build_repo(root: Path) -> list[LayerSpec]:
    def write(name: str, text: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for common in range(COMMON):
        write(f"modules/common{common}/main.tf", 'variable "x" {}\n')
    for shared in range(SHARED):
        call = f'module "common" {{\n  source = "../common{shared % COMMON}"\n}}\n'
        write(f"modules/shared{shared}/main.tf", call)
    layers = []
    for index in range(LAYERS):
        path = layer_path(index)
        values = {"shared": index % SHARED, "team": index % TEAMS, "index": index}
        if index % 10 == 0:
            write(f"{path}/terragrunt.hcl", TERRAGRUNT.format(**values))
        else:
            write(f"{path}/main.tf", MAIN_TF.format(**values))
            write(f"{path}/variables.tf", 'variable "name" { type = string }\n')
            write(f"{path}/outputs.tf", 'output "id" { value = module.own.id }\n')
            write(f"{path}/modules/own/main.tf", 'resource "null_resource" "x" {}\n')
        watch = (f"policies/team{index % TEAMS}/**", "**/*.rego") if index % 25 == 0 else ()
        layers.append(LayerSpec(f"layer{index}", path, index, watch))
    return layers


def spread_changes(rng: random.Random) -> list[str]:
    touched = rng.sample(range(LAYERS), 300)
    files = []
    for n in range(FILES):
        kind = n % 10
        if kind < 7:
            files.append(f"{layer_path(rng.choice(touched))}/sub{n % 7}/f{n}.tf")
        elif kind < 9:
            files.append(f"modules/shared{rng.randrange(SHARED)}/part{n % 3}/f{n}.tf")
        else:
            files.append(f"docs/section{n % 50}/page{n}.md")
    return files


def layer_changes(rng: random.Random) -> list[str]:
    return [f"{layer_path(rng.randrange(LAYERS))}/d{n % 9}/f{n}.tf" for n in range(FILES)]


def common_module_changes(_: random.Random) -> list[str]:
    return [f"modules/common0/d{n % 13}/f{n}.tf" for n in range(FILES)]


def best_of(runs: int, work: Callable[[], list[str]]) -> tuple[float, float, float, int]:
    """(first wall time, best wall time, best CPU time) in seconds, and layers touched.

    CPU time is printed too because wall time on a shared machine mostly measures the others.
    """
    walls, cpus = [], []
    result: list[str] = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls[0], min(walls), min(cpus), len(result)


def main() -> None:
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        layers = build_repo(root)
        print(f"built {LAYERS} layers in {time.perf_counter() - start:.2f}s at {root}")
        for label, make in [
            ("spread", spread_changes),
            ("layers-only", layer_changes),
            ("common-module", common_module_changes),
        ]:
            files = make(rng)
            first, best, cpu, count = best_of(RUNS, lambda f=files: touched_layers(f, layers, root))
            print(
                f"{label:>14}: {len(files):,} files -> {count:>4} layers touched; "
                f"first {first * 1000:6.0f} ms, best of {RUNS} {best * 1000:6.0f} ms "
                f"(CPU {cpu * 1000:6.0f} ms)"
            )


if __name__ == "__main__":
    main()
