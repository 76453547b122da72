"""The audit trail: one JSON line per command, accepted or refused, in the job log and summary."""

from __future__ import annotations

import json
from collections.abc import Callable

from msgspec import Struct, field
from msgspec.structs import asdict
from rich.console import Console

AUDIT_PREFIX = "infra-audit "


class AuditRecord(Struct, frozen=True):
    who: str
    command: str
    layers: tuple[str, ...]
    head_sha: str
    pr: int | None
    run_url: str
    result: str  # "ok" | "failed" | "refused: <why>" | "error: <what>"
    time: str
    fingerprints: dict[str, str] = field(default_factory=dict)
    event: str = ""

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


def emit(record: AuditRecord, *, console: Console, summary: Callable[[str], None]) -> str:
    """The one audit writer: the record to the job log (one unwrapped line, so a log search
    finds it whole) and to the job summary (`summary`: `ActionsEnv.append_summary`, which
    redacts and bounds it)."""
    line = AUDIT_PREFIX + record.line()
    console.print(line, markup=False, highlight=False, soft_wrap=True)
    summary(f"<details><summary>Audit</summary>\n\n```json\n{record.line()}\n```\n</details>")
    return line
