"""Whether a repository (or one module in it) runs OpenTofu rather than Terraform.

`infra init` proposes `engine: tofu` when the repository says so in any of the ways OpenTofu
users do: a `.opentofu-version` file, `opentofu` in `.tool-versions`, a workflow using
`opentofu/setup-opentofu`, providers locked from `registry.opentofu.org`, `*.tofu` files, or a
`terraform { encryption { … } }` block (state encryption exists only in OpenTofu).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_TOOL_VERSIONS = re.compile(r"^\s*opentofu\s", re.MULTILINE)
_SETUP = re.compile(r"uses:\s*[\"']?opentofu/setup-opentofu", re.IGNORECASE)
_OPENTOFU_REGISTRY = "registry.opentofu.org"
_LOCK_FILE = ".terraform.lock.hcl"


def repository_signal(root: Path) -> str | None:
    """The repository-wide sign of OpenTofu found at `root`, or None."""
    if (root / ".opentofu-version").is_file():
        return ".opentofu-version"
    if _TOOL_VERSIONS.search(_read(root / ".tool-versions")):
        return "opentofu in .tool-versions"
    workflows = root / ".github" / "workflows"
    if workflows.is_dir():
        for path in sorted(workflows.glob("*.y*ml")):
            if _SETUP.search(_read(path)):
                return f"opentofu/setup-opentofu in .github/workflows/{path.name}"
    return None


def module_signal(directory: Path, config_files: Iterable[str]) -> str | None:
    """The sign of OpenTofu in one module's own files, or None."""
    names = list(config_files)
    if any(name.endswith(".tofu") for name in names):
        return "*.tofu files"
    if (directory / ".opentofu-version").is_file():
        return ".opentofu-version"
    if _OPENTOFU_REGISTRY in _read(directory / _LOCK_FILE):
        return f"providers from {_OPENTOFU_REGISTRY} in {_LOCK_FILE}"
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
