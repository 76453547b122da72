"""Time `touched_layers` on a synthetic monorepo: 1,000 layers, 20,000 changed files.

Run: .venv/bin/python bench/changes.py [--no-standin]

Layers live at `stacks/team<t>/layer<i>`; each calls a module of its own, one of 40 shared
modules (each of which calls one of 5 common modules), and every tenth layer is a Terragrunt
unit. Every 25th layer has watch globs. Three change sets are timed, best of 5 each:

- spread: files across 300 layers, all 40 shared modules and docs; the other 700 layers are
  reached only through a shared module, so each is confirmed with the HCL parser (the worst
  case: parsing dominates);
- layers-only: files in layer directories only (no module parsing needed);
- common-module: every file under one common module, reached by 200 layers through 8 shared
  modules (every layer's files are scanned; 200 are parsed).

Then the whole of what a PR job does to find its layers, against the GitHub stand-in: the
spread change set as PR #7's 20,000 files, listed through `GitHub.list_pull_files` (200 pages
of 100 over real HTTP) and analysed. Target: under 2 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from infra_pipeline.adapters.github.client import GitHub
from infra_pipeline.core.changes import LayerSpec, analyse_changes, touched_layers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

LAYERS = 1_000
TEAMS = 50
SHARED = 40
COMMON = 5
FILES = 20_000
RUNS = 5
TARGET = 2.0

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


def from_standin(files: list[str], layers: list[LayerSpec], root: Path) -> None:
    """List PR #7's files from the stand-in, page by page, and find the touched layers (what
    `flows.pr_plan.touched_layers` does), cold: a new client and a new analysis per run.

    The stand-in runs in this process, so its serving time is measured and shown apart: the
    figure that is infra's is the wall time less the serving time. The stand-in's check of its
    own answers against GitHub's response schemas (a test aid, ~12 ms a page) is switched off.
    """
    from standin import DEFAULT_REPO, GitHubStandIn

    with GitHubStandIn(DEFAULT_REPO) as standin:
        standin.add_pull(7, files=list(files))
        standin.spec.check_response = lambda *args: []  # type: ignore[method-assign]
        served = [0.0]
        serve = standin.serve

        def timed_serve(*args: object) -> object:
            start = time.perf_counter()
            try:
                return serve(*args)  # type: ignore[arg-type]
            finally:
                served[0] += time.perf_counter() - start

        standin.serve = timed_serve  # type: ignore[method-assign,assignment]
        results = []
        for _ in range(RUNS):
            served[0] = 0.0
            start = time.perf_counter()
            with GitHub("ghs_standin_token", DEFAULT_REPO, standin.api_url) as github:
                paths = github.list_pull_files(7)
            listed = time.perf_counter()
            count = len(analyse_changes(paths, layers, root).layers)
            done = time.perf_counter()
            results.append((done - start, served[0], listed - start, done - listed, count))
        pages = sum(1 for r in standin.log if r.route.endswith("/files")) // RUNS
    wall, serving, listing, analysis, count = min(results)
    own = wall - serving
    print(
        f"{'stand-in':>14}: {len(files):,} files in {pages} pages -> {count:>4} layers; best of "
        f"{RUNS}: {wall * 1000:6.0f} ms wall = listing {listing * 1000:.0f} ms (of which the "
        f"stand-in serving {serving * 1000:.0f} ms) + analysis {analysis * 1000:.0f} ms"
    )
    verdict = "ok" if own < TARGET else "OVER"
    print(
        f"{'':>14}  infra's part (wall less serving): {own * 1000:.0f} ms, "
        f"target < {TARGET * 1000:.0f} ms: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-standin", action="store_true", help="skip the HTTP listing")
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        layers = build_repo(root)
        print(f"built {LAYERS} layers in {time.perf_counter() - start:.2f}s at {root}")
        spread: list[str] = []
        for label, make in [
            ("spread", spread_changes),
            ("layers-only", layer_changes),
            ("common-module", common_module_changes),
        ]:
            files = make(rng)
            spread = spread or files
            first, best, cpu, count = best_of(RUNS, lambda f=files: touched_layers(f, layers, root))
            print(
                f"{label:>14}: {len(files):,} files -> {count:>4} layers touched; "
                f"first {first * 1000:6.0f} ms, best of {RUNS} {best * 1000:6.0f} ms "
                f"(CPU {cpu * 1000:6.0f} ms)"
            )
        if not args.no_standin:
            from_standin(spread, layers, root)


if __name__ == "__main__":
    main()
