"""`RepoFiles` over a checkout on disk: what the HCL reading in `core/hcl_reads` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


class DiskFiles:
    """Read access to the files below `root`, by repo-relative POSIX path."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def text(self, path: str) -> str | None:
        try:
            return (self._root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def kind(self, path: str) -> Literal["file", "dir"] | None:
        target = self._root / path
        return "file" if target.is_file() else "dir" if target.is_dir() else None
