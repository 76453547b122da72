"""`make demo`: the whole local pipeline on the bundled example, with real Terraform.

validate → plan all → apply all → drift made out-of-band in one layer → verify finds it in
exactly that layer → apply → verify is clean. Each step runs the real `infra` console script;
the demo stops with a non-zero exit if any step does not end as the story says.

With `PG_CONN_STR` set (`make demo` starts a throwaway PostgreSQL and sets it), every layer
keeps its state in Terraform's `pg` backend, one schema per layer, as a team's CI would; the
demo then also leaves a stale state lock (a session that outlived its job) and releases it
with `infra force-unlock`, as docs/state-backend.md's runbook says.
"""

from __future__ import annotations

import json
import os
import re
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


def use_pg_backend() -> None:
    """Each layer's state in Postgres: a `backend "pg" {}` block in the layer, `state_key` (its
    schema) and a lock timeout in infra.yaml; the connection string comes from PG_CONN_STR."""
    import yaml

    config_path = SCRATCH / "infra.yaml"
    config = yaml.safe_load(config_path.read_text())
    # Until a layer's first apply, the pg backend locks the whole database to create its
    # workspace: the parallel plans wait for each other instead of failing.
    config["lock_timeout"] = "2m"
    for name, layer in config["layers"].items():
        if layer.get("engine", "terraform") == "terragrunt":
            continue  # Terragrunt's remote_state generates its backend block
        (SCRATCH / layer["path"] / "backend.tf").write_text('terraform {\n  backend "pg" {}\n}\n')
        layer["state_key"] = "homelab_" + name.replace("-", "_")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    print("demo: state in PostgreSQL (pg backend), one schema per layer")


def stale_lock_runbook() -> None:
    """A lost runner's lock: a session holding `platform`'s lock after its job is gone."""
    import pg8000.native
    import yaml

    from infra_pipeline.adapters.pg_locks import connect_args

    # platform waits 5 s for a lock (not the 2 minutes the first plans needed), then says who
    # holds it and how to release it.
    config_path = SCRATCH / "infra.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["layers"]["platform"]["lock_timeout"] = "5s"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    args = {
        **connect_args(os.environ["PG_CONN_STR"]),
        "application_name": "infra run 1 apply platform",
    }
    lost = pg8000.native.Connection(**args)
    try:
        [[row]] = lost.run("SELECT id FROM homelab_platform.states WHERE name = 'default'")
        lost.run("SELECT pg_advisory_lock(:key)", key=row)
        print(
            "\n\033[1;35m━━ a runner is lost mid-apply\033[0m: its session still holds the "
            "state lock of platform"
        )
        output = capture("plan platform: the state lock is held", "plan", "platform", expect=1)
        found = re.search(r"infra force-unlock platform (\d+)", output)
        if found is None:
            print("demo: the plan did not name the lock to release", file=sys.stderr)
            raise SystemExit(1)
        step("release the stale lock", "force-unlock", "platform", found.group(1))
        step("plan platform again", "plan", "platform")
    finally:
        lost.close()


def capture(title: str, *args: str, expect: int) -> str:
    print(f"\n\033[1;36m━━ {title}\033[0m  $ infra {' '.join(args)}", flush=True)
    done = subprocess.run(
        [str(INFRA), *args], cwd=SCRATCH, capture_output=True, text=True, check=False
    )
    print(done.stdout + done.stderr, end="")
    if done.returncode != expect:
        print(f"\ndemo: `infra {' '.join(args)}` exited {done.returncode}", file=sys.stderr)
        raise SystemExit(1)
    return done.stdout + done.stderr


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    shutil.copytree(
        HERE / "homelab",
        SCRATCH,
        ignore=shutil.ignore_patterns(".terraform", ".terragrunt-cache", "*.tfstate*", "reports"),
    )
    print(f"demo: working on a copy of the example in {SCRATCH}")
    on_pg = bool(os.environ.get("PG_CONN_STR"))
    if on_pg:
        use_pg_backend()
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
    if on_pg:
        stale_lock_runbook()
    print(f"\n\033[1;32mdemo: drift found and repaired in {time.monotonic() - started:.1f}s\033[0m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
