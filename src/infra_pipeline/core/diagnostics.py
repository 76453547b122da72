"""Terraform's error diagnostics read back from its human output, for annotations.

`plan` and `apply` run without `-json` (their output is the log people read), so the file
and line of an error come from the block Terraform prints for each diagnostic:

    Error: Unsupported argument

      on main.tf line 3, in resource "terraform_data" "x":
       3:   bogus = 2

    An argument named "bogus" is not expected here.
"""

from __future__ import annotations

import re

from ..models import Diagnostic

_BOX = "│╷╵ "
# A diagnostic's heading starts its line, or follows the box's "│ " in colour. Only there: a
# plan's own lines are indented, and a value it shows may read "Warning: ..." (a heredoc).
_SEVERITY = re.compile(r"(?:│ )?(Error|Warning): (?P<summary>.+)")
_WHERE = re.compile(r"^on (?P<file>\S+) line (?P<line>\d+)")
_SOURCE = re.compile(r"^\d+:")


def read_diagnostics(output: str, *, warnings: bool = False) -> tuple[Diagnostic, ...]:
    """Every `Error:` block of Terraform's output, and with `warnings` every `Warning:` block
    too (else they are left to the log)."""
    found: list[Diagnostic] = []
    current: dict[str, str] | None = None
    detail: list[str] = []
    kept = ("Error", "Warning") if warnings else ("Error",)

    def close() -> None:
        if current is not None:
            found.append(
                Diagnostic(
                    severity=current["severity"],
                    summary=current["summary"],
                    detail=" ".join(detail).strip(),
                    filename=current.get("file"),
                    line=int(current["line"]) if "line" in current else None,
                )
            )

    for raw in output.splitlines():
        text = raw.strip(_BOX).strip()
        heading = _SEVERITY.fullmatch(raw.rstrip())
        if heading:
            close()
            kind = heading[1]
            current = None
            if kind in kept:
                current = {"summary": heading["summary"], "severity": kind.lower()}
            detail = []
            continue
        if current is not None and not text and detail:
            close()  # the block ends with its first paragraph of detail
            current = None
        if current is None or not text:
            continue
        where = _WHERE.match(text)
        if where and "file" not in current:
            current["file"], current["line"] = where["file"], where["line"]
        elif not _SOURCE.match(text) and not where:
            detail.append(text)
    close()
    return tuple(found)
