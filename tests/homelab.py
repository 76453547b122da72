"""The bundled example as a test fixture: a fresh copy per test, and the CLI run in-process."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from infra_pipeline.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "homelab"
LAYER_DIRS = {
    "bootstrap": "bootstrap",
    "platform": "platform",
    "data-staging": "envs/staging/data",
    "data-prod": "envs/prod/data",
}
# Where each layer's Terraform code is as shipped: the Terragrunt units take theirs from the
# modules tree (`terraform { source = "…/modules//<unit>" }`); bootstrap is plain Terraform.
CODE_DIRS = {
    "bootstrap": "bootstrap",
    "platform": "modules/platform",
    "data-staging": "modules/data-staging",
    "data-prod": "modules/data-prod",
}
_MODULE_SOURCE = re.compile(r'(\bsource\s*=\s*")(\.\.?/[^"]*)(")')


@dataclass
class CliResult:
    code: int
    out: str


def copy_example(dest: Path) -> Path:
    root = dest / "homelab"
    shutil.copytree(
        EXAMPLE,
        root,
        ignore=shutil.ignore_patterns(".terraform", ".terragrunt-cache", "*.tfstate*", "reports"),
    )
    return root


def set_engine(root: Path, engine: str, *layers: str) -> None:
    """Run `layers` (default: all four) of the example with another engine. For `tofu` or
    `terraform` each Terragrunt unit becomes a plain root module in its own directory, as a
    repository without Terragrunt keeps it: its code moves there from the modules tree (module
    sources rebased) and its terragrunt.hcl goes. Terragrunt's inputs are then main.tf's
    defaults, which are the same values."""
    path = root / "infra.yaml"
    text = path.read_text()
    for layer in layers or tuple(LAYER_DIRS):
        line = next(x for x in text.splitlines() if x.strip().startswith(f"{layer}:"))
        text = text.replace(line, re.sub(r"engine: [a-z]+", f"engine: {engine}", line))
        if engine != "terragrunt" and CODE_DIRS[layer] != LAYER_DIRS[layer]:
            _plain_root(root, LAYER_DIRS[layer], CODE_DIRS[layer])
    path.write_text(text)


def _plain_root(root: Path, unit: str, code: str) -> None:
    def rebased(match: re.Match[str]) -> str:
        target = os.path.normpath(os.path.join(code, match[2]))
        return match[1] + os.path.relpath(target, unit) + match[3]

    for file in sorted((root / code).glob("*.tf")):
        (root / unit / file.name).write_text(_MODULE_SOURCE.sub(rebased, file.read_text()))
    shutil.rmtree(root / code)
    (root / unit / "terragrunt.hcl").unlink()


def code_file(root: Path, layer: str) -> Path:
    """The file holding `layer`'s Terraform code: in the modules tree as shipped, in the
    layer's own directory once `set_engine` made it a plain root module."""
    own = root / LAYER_DIRS[layer] / "main.tf"
    return own if own.is_file() else root / CODE_DIRS[layer] / "main.tf"


def code_path(root: Path, layer: str) -> str:
    """`code_file` as a repository path, as a pull request lists it."""
    return code_file(root, layer).relative_to(root).as_posix()


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: PATH and HOME only, never the developer's GitHub variables."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TF_CLI_CONFIG_FILE") if k in os.environ}
    env.update(extra)
    return env


def infra(root: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False, color_system=None)
    code = main(list(args), env=env or base_env(), console=console, cwd=root)
    return CliResult(code, buffer.getvalue())


def state_resources(root: Path, layer: str) -> list[str]:
    """Addresses of the managed resources in a layer's local state (empty when never applied).

    An empty file is no state, as Terraform reads it: the local backend creates the file to
    lock it when an apply starts, and writes it first when a resource completes, so an apply
    killed before that leaves it empty (tests/test_pr_faults.py kills one mid-apply)."""
    path = root / LAYER_DIRS[layer] / "terraform.tfstate"
    text = path.read_text() if path.exists() else ""
    if not text.strip():
        return []
    state = json.loads(text)
    found = []
    for res in state.get("resources", []):
        prefix = f"{res['module']}." if "module" in res else ""
        for inst in res.get("instances", []):
            key = inst.get("index_key")
            suffix = f'["{key}"]' if isinstance(key, str) else f"[{key}]" if key is not None else ""
            found.append(f"{prefix}{res['type']}.{res['name']}{suffix}")
    return sorted(found)


def add_node(root: Path, name: str) -> None:
    """Drift made out-of-band: the 'live cluster' reports one more node."""
    path = root / "live" / "cluster.json"
    live = json.loads(path.read_text())
    live["nodes"].append(name)
    path.write_text(json.dumps(live, indent=2))
