"""One provider plugin cache for every layer (`TF_PLUGIN_CACHE_DIR`), shared safely.

Downloading the same providers once per layer is most of what `init` costs on a real
repository; with a cache each provider version is downloaded once per machine and linked into
each layer. When the user set no cache (`TF_PLUGIN_CACHE_DIR`, or `plugin_cache_dir` in the CLI
configuration), layers share `$XDG_CACHE_HOME/infra-pipeline/terraform-plugins` (else
`~/.cache/...`). `TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE` is never set: without it
Terraform still checks every cached package against the lock file's checksums.

Terraform's cache is not safe for concurrent writes of the same provider (two inits that
both miss it download into the same directory; its docs say the behaviour is undefined), and
infra runs inits in parallel. So an init that may write to the cache holds an exclusive file
lock on it for its duration; one that only links packages already there (every provider of
its lock file is in the cache) or needs no provider runs without the lock, in parallel.
Processes and threads alike are serialised: each acquisition opens the lock file anew, and
`flock` locks belong to the open file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..core.init_inputs import init_reads

CACHE_ENV = "TF_PLUGIN_CACHE_DIR"
_LOCK = ".infra-init.lock"
_PROVIDER = re.compile(r'(?m)^provider\s+"([^"]+)"\s*\{[^}]*?^\s*version\s*=\s*"([^"]+)"')
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def default_dir(env: Mapping[str, str]) -> Path | None:
    """The shared cache to use when the user configured none; None when they did."""
    if env.get(CACHE_ENV):
        return None
    config = env.get("TF_CLI_CONFIG_FILE") or str(Path(env.get("HOME", "/")) / ".terraformrc")
    with contextlib.suppress(OSError):
        if "plugin_cache_dir" in Path(config).read_text(errors="replace"):
            return None
    home = env.get("HOME")
    if not env.get("XDG_CACHE_HOME") and not home:
        return None  # nowhere of the user's own to share it
    base = env.get("XDG_CACHE_HOME") or str(Path(str(home)) / ".cache")
    path = Path(base) / "infra-pipeline" / "terraform-plugins"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: no cache, as before
    return path


def may_write(cache: Path, workdir: Path) -> bool:
    """Whether `init` in `workdir` may download into `cache`: a provider of its lock file is
    not cached yet, or it has no lock file and its configuration may need a provider."""
    try:
        lock = (workdir / ".terraform.lock.hcl").read_text(errors="replace")
    except OSError:
        return _may_need_providers(workdir)
    # os.uname: what platform.system() and platform.machine() read on POSIX, without
    # importing `platform` on every start.
    system = os.uname()
    platform_dir = f"{system.sysname.lower()}_{_MACHINES.get(system.machine, '')}"
    for source, version in _PROVIDER.findall(lock):
        if not (cache / source / version / platform_dir).exists():
            return True
    return False


@contextlib.contextmanager
def exclusive(cache: Path) -> Iterator[None]:
    """Hold the cache's lock (blocking) while an init that may write to it runs."""
    fd = os.open(cache / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _may_need_providers(workdir: Path) -> bool:
    """Whether any .tf file of the layer or of a local module it calls may need a provider
    (`InitReads.needs_providers`); a .tf.json file is assumed to."""
    seen: set[Path] = set()
    todo = [workdir.resolve()]
    while todo:
        directory = todo.pop()
        if directory in seen or not directory.is_dir():
            continue
        seen.add(directory)
        if any(directory.glob("*.tf.json")):
            return True
        for path in directory.glob("*.tf"):
            try:
                reads = init_reads(path.read_text(errors="replace"))
            except OSError:
                return True
            if reads.needs_providers:
                return True
            todo += [(directory / source).resolve() for source in reads.local_modules]
    return False
