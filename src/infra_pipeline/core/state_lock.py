"""Terraform's state lock as a record: who holds it, since when, and what an operator can do.

Pure: it reads Terraform's "Error acquiring the state lock" output and the name a job gives its
database session; the backends that hold locks are asked in `pg_locks`.

Terraform prints a `Lock Info:` block when it cannot take the lock. The s3, gcs, azurerm and
consul backends fill it from the lock record they store, so it names the holder. The `pg`
backend cannot: its lock is a session-level advisory lock with no record, and the block it
prints is the *requester's* own. For pg the holder comes from Postgres instead (the session
holding the advisory lock, whose `application_name` a job sets to name its run; see
`session_name`).
"""

from __future__ import annotations

import re

from msgspec.structs import replace

from ..models import StateLock

LOCK_ERROR = "Error acquiring the state lock"
ACQUIRING = "Acquiring state lock"
_FIELDS = ("ID", "Path", "Operation", "Who", "Version", "Created", "Info")
_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):\s*(.*?)\s*$")
_MESSAGE = re.compile(r"^\s*Error message:\s*(.*?)\s*$")
# `infra run 4242 plan platform`: what a job calls its database sessions (Postgres keeps at
# most 63 bytes of it, which a run id and a layer name fit).
_SESSION = re.compile(r"^infra run (\d+) (\w+) (\S+)$")


def is_lock_error(output: str) -> bool:
    return LOCK_ERROR in output


def parse_lock_error(output: str, *, layer: str, backend: str) -> StateLock | None:
    """The `Lock Info:` Terraform printed with "Error acquiring the state lock", or None when
    the output is not a lock failure."""
    if not is_lock_error(output):
        return None
    tail = output[output.index(LOCK_ERROR) :]
    fields: dict[str, str] = {}
    message = ""
    for raw in tail.splitlines():
        line = raw.strip("│╷╵ \t")
        found = _MESSAGE.match(line)
        if found and not message:
            message = found.group(1)
            continue
        found = _FIELD.match(line)
        if found and found.group(1) not in fields:
            fields[found.group(1)] = found.group(2)
        if len(fields) == len(_FIELDS):
            break
    lock = StateLock(
        layer=layer,
        backend=backend,
        lock_id=fields.get("ID", ""),
        who=fields.get("Who", ""),
        operation=fields.get("Operation", ""),
        created=fields.get("Created", ""),
        path=fields.get("Path", ""),
        version=fields.get("Version", ""),
        info=fields.get("Info", ""),
        message=message,
    )
    run = _RUN_IN_INFO.search(lock.info)
    return replace(lock, run_id=int(run.group(1))) if run else lock


_RUN_IN_INFO = re.compile(r"actions/runs/(\d+)|\brun (\d+)\b")


def session_name(run_id: str | None, operation: str, layer: str) -> str:
    """The `application_name` a job's engine uses for its Postgres session, so that the lock
    it holds can be traced to the run (`PGAPPNAME`, which the pg backend's driver reads)."""
    return f"infra run {run_id or 0} {operation} {layer}"[:63]


def parse_session_name(name: str) -> tuple[int | None, str]:
    """The run id and operation in a `session_name`; (None, "") for any other session."""
    found = _SESSION.match(name)
    if not found:
        return None, ""
    run = int(found.group(1))
    return (run or None), found.group(2)


def lock_reply(locks: list[StateLock], run_url: str | None = None) -> str:
    """The Markdown a pull request gets when its plan or apply found a state lock held."""
    lines = ["🔒 **The Terraform state is locked**, so these layers were not planned:", ""]
    for lock in locks:
        lines.append(f"- `{lock.layer}`: {lock.describe()}")
        if lock.run_id is not None and run_url:
            lines.append(f"  - from [workflow run {lock.run_id}]({run_url}/{lock.run_id})")
    lines += ["", *what_to_do(locks)]
    return "\n".join(lines)


def what_to_do(locks: list[StateLock], retry: str = "/plan") -> list[str]:
    first = locks[0]
    return [
        f"If another job is still running, wait for it and comment `{retry}` again (a "
        "`lock_timeout:` in infra.yaml makes jobs wait for each other).",
        "If the job that took the lock is gone (killed, or its runner lost), an admin can "
        f"release it: `/force-unlock {first.layer} {first.lock_id}` (or "
        f"`infra force-unlock {first.layer} {first.lock_id}`). See the stale-lock runbook in "
        "docs/state-backend.md.",
    ]
