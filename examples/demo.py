"""`make demo`: the whole local pipeline on the bundled example, with real Terraform.

validate → plan all → apply all → drift made out-of-band in one layer → verify finds it in
exactly that layer → apply → verify is clean. Each step runs the real `infra` console script;
the demo stops with a non-zero exit if any step does not end as the story says.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRATCH = HERE.parent / ".demo" / "homelab"
INFRA = Path(sys.executable).parent / "infra"


def step(title: str, *args: str, expect: int = 0) -> None:
    print(f"\n\033[1;36m━━ {title}\033[0m  $ infra {' '.join(args)}", flush=True)
    code = subprocess.call([str(INFRA), *args], cwd=SCRATCH)
    if code != expect:
        print(f"\ndemo: `infra {' '.join(args)}` exited {code}, expected {expect}", file=sys.stderr)
        raise SystemExit(1)


def make_drift() -> None:
    live = SCRATCH / "live" / "cluster.json"
    data = json.loads(live.read_text())
    data["nodes"].append("node-4")
    live.write_text(json.dumps(data, indent=2) + "\n")
    print("\n\033[1;35m━━ out-of-band change\033[0m: node-4 joined the cluster (live/cluster.json)")


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    shutil.copytree(
        HERE / "homelab",
        SCRATCH,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "reports"),
    )
    print(f"demo: working on a copy of the example in {SCRATCH}")
    step("validate every layer", "validate")
    step("plan every layer (in parallel)", "plan", "all", "--detailed-exitcode", expect=3)
    step(
        "apply in order: bootstrap → platform → data-staging → data-prod",
        "apply",
        "all",
        "--auto-approve",
    )
    step("health probes", "health")
    step("end-to-end smoke suite", "e2e", "smoke")
    step("drift scan: all in sync", "verify", "--all", "--detailed-exitcode")
    make_drift()
    step(
        "drift scan: finds drift in bootstrap only",
        "verify",
        "--all",
        "--detailed-exitcode",
        expect=3,
    )
    step("repair: apply the drifted layer", "apply", "bootstrap", "--auto-approve")
    step("drift scan: clean again", "verify", "--all", "--detailed-exitcode")
    print(f"\n\033[1;32mdemo: drift found and repaired in {time.monotonic() - started:.1f}s\033[0m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
