"""`make tools`: build the pinned `terragrunt` and `tofu` from their Go modules.

Neither ships in a package registry this project can reach, but both are Go modules on the Go
module proxy. `go install module@version` refuses OpenTofu (its go.mod has `replace`
directives) and Terragrunt here (the proxy answers 403 for its version list, which `go
install` reads for deprecations), so each is downloaded with `go mod download -json`, copied
to a writable directory and built there with `go build`.

Each binary lands in `$INFRA_TOOLS_DIR/<tool>-<version>/` (default: `.tools/` in the checkout),
so a version is built once and every worktree or CI job pointing at the same directory shares
it; the Makefile and the tests put those directories first on PATH. Standard library only: it
runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "versions.mk"
DEFAULT_DIR = HERE.parent / ".tools"


@dataclass(frozen=True)
class Tool:
    name: str  # the binary's name, and the key in versions.mk (`<NAME>_VERSION`)
    module: str
    package: str  # relative to the module root
    ldflags: str  # `{version}` is replaced by the release, as the projects' own builds do

    def version(self, versions: dict[str, str]) -> str:
        return versions[f"{self.name.upper()}_VERSION"]

    def directory(self, tools_dir: Path, versions: dict[str, str]) -> Path:
        return tools_dir / f"{self.name}-{self.version(versions)}"


TOOLS = (
    Tool(
        "terragrunt",
        "github.com/gruntwork-io/terragrunt",
        ".",
        # Without it `terragrunt --version` says "latest" and version constraints misjudge it.
        "-s -w -X github.com/gruntwork-io/terragrunt/internal/version.Version={version}",
    ),
    Tool(
        "tofu",
        "github.com/opentofu/opentofu",
        "cmd/tofu",
        "-s -w -X github.com/opentofu/opentofu/version.dev=no",
    ),
)


class BuildError(Exception):
    pass


def read_versions(path: Path = VERSIONS) -> dict[str, str]:
    """`NAME := value` lines of the make fragment."""
    pattern = re.compile(r"^([A-Z_]+)\s*:?=\s*(\S+)\s*$")
    return {
        m[1]: m[2] for line in path.read_text().splitlines() if (m := pattern.match(line.strip()))
    }


def tools_dir(env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    return Path(env["INFRA_TOOLS_DIR"]) if env.get("INFRA_TOOLS_DIR") else DEFAULT_DIR


def tool_path_dirs(directory: Path, versions: dict[str, str]) -> list[Path]:
    """The directories to put first on PATH, one per pinned tool."""
    return [tool.directory(directory, versions) for tool in TOOLS]


def _say(message: str) -> None:
    print(f"tools: {message}", flush=True)


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    _say("$ " + " ".join(argv) + (f"   (in {cwd})" if cwd else ""))
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(
            f"`{' '.join(argv)}` exited {result.returncode}:\n{result.stderr.strip()[-4000:]}"
        )
    return result.stdout


def build(tool: Tool, version: str, target: Path, go: str) -> None:
    """Download, copy and build one tool into `target/<name>`, atomically."""
    info = json.loads(_run([go, "mod", "download", "-json", f"{tool.module}@{version}"]))
    if info.get("Error") or not info.get("Dir"):
        raise BuildError(f"the Go module proxy has no {tool.module}@{version}: {info.get('Error')}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{tool.name}-src-", dir=target.parent) as scratch:
        # The module cache is read-only, and `go build` there would use the module as a
        # dependency of nothing: build from a writable copy, as its own main module.
        source = Path(scratch) / "src"
        _say(f"copying {info['Dir']} to {source}")
        shutil.copytree(info["Dir"], source)
        for path in [source, *source.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        partial = Path(scratch) / tool.name
        _run(
            [
                go,
                "build",
                "-trimpath",
                "-ldflags",
                tool.ldflags.format(version=version),
                "-o",
                str(partial),
                f"./{tool.package}",
            ],
            cwd=source,
        )
        partial.replace(target / tool.name)  # a reader never sees a half-written binary


def ensure(tool: Tool, directory: Path, versions: dict[str, str], go: str | None) -> Path:
    version = tool.version(versions)
    target = tool.directory(directory, versions)
    binary = target / tool.name
    if binary.is_file():
        _say(f"{tool.name} {version}: cached at {binary}")
        return binary
    if go is None:
        raise BuildError(
            f"{tool.name} {version} is not built and Go is not installed.\n"
            "Install Go >= 1.21 (https://go.dev/dl/; it fetches the newer toolchain OpenTofu "
            "needs by itself) and run `make tools` again, or point INFRA_TOOLS_DIR at a "
            "directory that already holds the tools."
        )
    directory.mkdir(parents=True, exist_ok=True)
    # Two worktrees (or test workers) sharing one INFRA_TOOLS_DIR build each version once.
    with (directory / f".{tool.name}-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            _say(f"{tool.name} {version}: built meanwhile by another process")
            return binary
        started = time.monotonic()
        _say(f"{tool.name} {version}: building {tool.module} (minutes when Go's cache is cold)")
        build(tool, version, target, go)
        _say(f"{tool.name} {version}: built in {time.monotonic() - started:.0f}s -> {binary}")
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--print-path", action="store_true", help="print the PATH entries of the tools and stop"
    )
    args = parser.parse_args(argv)
    versions = read_versions()
    directory = tools_dir()
    if args.print_path:
        print(os.pathsep.join(map(str, tool_path_dirs(directory, versions))))
        return 0
    go = shutil.which("go")
    try:
        for tool in TOOLS:
            binary = ensure(tool, directory, versions, go)
            # The first line naming the version: tofu may warn about its CLI config first.
            output = _run([str(binary), "--version"]).splitlines()
            shown = [x for x in output if re.search(r"\bv\d+\.\d+", x)]
            _say(f"{tool.name}: {shown[0].strip() if shown else '?'}")
    except BuildError as exc:
        print(f"tools: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
