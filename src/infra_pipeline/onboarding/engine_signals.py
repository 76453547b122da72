"""Whether a repository (or one module in it) runs OpenTofu rather than Terraform.

`infra init` proposes `engine: tofu` when the repository says so in any of the ways OpenTofu
users do: a `.opentofu-version` file, `opentofu` in `.tool-versions`, a workflow using
`opentofu/setup-opentofu`, providers locked from `registry.opentofu.org`, `*.tofu` files, or a
`terraform { encryption { … } }` block (state encryption exists only in OpenTofu), or a Terramate
script that runs `tofu`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_TOOL_VERSIONS = re.compile(r"^\s*opentofu\s", re.MULTILINE)
_TOOL_VERSIONS_TERRAFORM = re.compile(r"^\s*terraform\s", re.MULTILINE)
_SETUP = re.compile(r"uses:\s*[\"']?opentofu/setup-opentofu", re.IGNORECASE)
_SETUP_TERRAFORM = re.compile(r"uses:\s*[\"']?hashicorp/setup-terraform", re.IGNORECASE)
# A Terramate script step running OpenTofu: `commands = [["tofu", "plan", …]]`.
_TERRAMATE_TOFU = re.compile(r"\[\s*\"tofu\"\s*,")
_OPENTOFU_REGISTRY = "registry.opentofu.org"
_LOCK_FILE = ".terraform.lock.hcl"


def repository_signal(root: Path) -> str | None:
    """The repository-wide sign of OpenTofu found at `root`, or None. A repository that
    installs both Terraform and OpenTofu (both in `.tool-versions`, or both setup actions)
    has no repository-wide engine: each module's own signs decide."""
    if (root / ".opentofu-version").is_file():
        return ".opentofu-version"
    tools = _read(root / ".tool-versions")
    if _TOOL_VERSIONS.search(tools):
        return None if _TOOL_VERSIONS_TERRAFORM.search(tools) else "opentofu in .tool-versions"
    workflows = root / ".github" / "workflows"
    texts = (
        {p.name: _read(p) for p in sorted(workflows.glob("*.y*ml"))} if workflows.is_dir() else {}
    )
    if any(_SETUP_TERRAFORM.search(text) for text in texts.values()):
        return None
    for name, text in texts.items():
        if _SETUP.search(text):
            return f"opentofu/setup-opentofu in .github/workflows/{name}"
    return None


def module_signal(
    directory: Path, config_files: Iterable[str], root: Path | None = None
) -> str | None:
    """The sign of OpenTofu in one module's own files, or None; with `root`, also a
    Terramate script that runs `tofu` in the module's directory or one above it (up to
    `root`), as a repository that keeps Terraform and OpenTofu stacks apart has."""
    names = list(config_files)
    if any(name.endswith(".tofu") for name in names):
        return "*.tofu files"
    if (directory / ".opentofu-version").is_file():
        return ".opentofu-version"
    if _OPENTOFU_REGISTRY in _read(directory / _LOCK_FILE):
        return f"providers from {_OPENTOFU_REGISTRY} in {_LOCK_FILE}"
    if root is not None and (directory == root or root in directory.parents):
        for folder in (directory, *directory.parents):
            for script in sorted(folder.glob("*.tm.hcl")):
                if _TERRAMATE_TOFU.search(_read(script)):
                    return f"a Terramate script runs tofu ({script.relative_to(root)})"
            if folder == root:
                break
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
