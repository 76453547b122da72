"""The checkout's files by repo-relative path: the `RepoFiles` that the HCL reading in
`core/hcl_reads.py` asks, outside change detection (which keeps its own cached walk)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


class CheckoutFiles:
    def __init__(self, root: Path) -> None:
        self._root = root

    def text(self, path: str) -> str | None:
        try:
            return (self._root / path).read_text(errors="replace")
        except OSError:
            return None

    def kind(self, path: str) -> Literal["file", "dir"] | None:
        native = self._root / path
        return "file" if native.is_file() else "dir" if native.is_dir() else None
