"""docs/architecture.md lists every module of the package, and nothing that is gone.

The tree in that page is how a newcomer finds where a thing lives; a module missing from it,
or a line naming a module that was moved away, sends them looking in the wrong place.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "infra_pipeline"
DOC = ROOT / "docs" / "architecture.md"

FOLDER = re.compile(r"^  (\S+/)\s")
MODULE_IN_FOLDER = re.compile(r"^    (\S+\.py)\s")
TOP_MODULE = re.compile(r"^  (\S+\.py)\s")


def _tree_lines() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("```\ninfra_pipeline/\n") + len("```\ninfra_pipeline/\n")
    return text[start : text.index("\n```", start)].splitlines()


def _listed() -> set[str]:
    """The package-relative paths the tree names; folders end in `/`."""
    listed: set[str] = set()
    folder = ""
    for line in _tree_lines():
        if found := FOLDER.match(line):
            folder = found.group(1)
            listed.add(folder)
        elif found := MODULE_IN_FOLDER.match(line):
            listed.add(folder + found.group(1))
        elif found := TOP_MODULE.match(line):
            # A top-level module ends the folder above it; `github/client.py` keeps its own.
            folder = ""
            listed.add(found.group(1))
    return listed


def _modules() -> set[str]:
    """Every module a reader may look for: `__init__.py` files stand for their folder."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if path.name == "__init__.py":
            parent = path.parent.relative_to(PACKAGE).as_posix()
            if parent != "." and "/" not in parent:
                found.add(parent + "/")
            continue
        found.add(rel)
    return found


def test_every_module_of_the_package_has_a_line_in_the_architecture_tree() -> None:
    missing = sorted(_modules() - _listed())
    assert not missing, f"add a line for each to docs/architecture.md's tree: {missing}"


def test_the_architecture_tree_names_no_module_that_is_gone() -> None:
    stale = sorted(_listed() - _modules())
    assert not stale, f"docs/architecture.md's tree names modules that do not exist: {stale}"


def test_the_tree_reader_sees_the_folders_and_modules_it_should() -> None:
    # Guards the reader itself: were the patterns to match nothing, both tests above would
    # pass on an empty set.
    listed = _listed()
    assert {"flows/", "core/", "adapters/", "config.py", "flows/job.py"} <= listed
    assert "adapters/github/client.py" in listed
    assert len(listed) > 100
