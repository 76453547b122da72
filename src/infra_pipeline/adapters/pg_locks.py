"""The state locks of Terraform's `pg` backend, read and released in Postgres itself.

The pg backend locks a state with a session-level advisory lock keyed on the state's row id in
`<schema>.states` (and, while a workspace has no row yet, on -1: one key for the whole
database, so a layer planned before its first apply holds up every other layer in that
database). Nothing is written down, so:

- a Terraform process that dies closes its connection and Postgres drops its locks with it; a
  lock is left behind only while its session lives on: a runner that vanished without closing
  the connection (lost network, a preempted VM, a frozen process) until TCP keepalive ends it;
- `terraform force-unlock` cannot release another session's advisory lock (it answers that it
  did, and nothing changes), so releasing one means ending the session that holds it:
  `pg_terminate_backend(pid)`. The lock ID this module hands out is that session's pid.

Only the standard library and pg8000 (pure Python) are used; the engine's own driver is Go's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from msgspec import Struct, field

from ..core.state_lock import parse_session_name
from ..errors import InfraError
from ..models import StateLock
from ..records import compared, shown

DEFAULT_SCHEMA = "terraform_remote_state"  # the pg backend's default `schema_name`
CREATION_KEY = -1  # the key the pg backend locks while it creates a workspace's row
CONNECT_TIMEOUT = 10


class PgState(Struct, frozen=True):
    """Where one layer's state lives in Postgres."""

    conn_str: str
    schema: str = DEFAULT_SCHEMA
    workspace: str = "default"
    # The engine's environment: lib/pq takes what conn_str leaves out from PGHOST, PGUSER, ...
    # Not part of where the state is (`__eq__`), and never shown (it may hold PGPASSWORD).
    env: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return shown(self, "env")

    def __eq__(self, other: object) -> bool:
        if type(other) is not PgState:
            return NotImplemented
        return compared(self, "env") == compared(other, "env")

    def __hash__(self) -> int:
        return hash(compared(self, "env"))


def holder(state: PgState, layer: str, *, exclude_session: str | None = None) -> StateLock | None:
    """The session holding `state`'s lock (its own row's or the database's creation lock), or
    None. `exclude_session`: an application_name to ignore (the asking job's own engine)."""
    with _connect(state) as conn:
        row_id = _row_id(conn, state)
        keys = [CREATION_KEY] if row_id is None else [row_id, CREATION_KEY]
        for key in keys:
            for pid, app, client, since in _holders(conn, key):
                if exclude_session and app == exclude_session:
                    continue
                return _lock(layer, pid, app, client, since, creating=key == CREATION_KEY)
    return None


def release(state: PgState, layer: str, lock_id: str) -> StateLock:
    """End the session `lock_id` (a pid) if, and only if, it holds `state`'s lock; returns the
    lock it held. InfraError when it holds none (wrong ID, or already released)."""
    current = holder(state, layer)
    if current is None or current.lock_id != lock_id:
        now = f"; it is {current.describe()}" if current else "; the state is not locked now"
        raise InfraError(
            f"`{layer}`: no state lock with ID `{lock_id}`{now}",
            "check the lock ID in the latest plan's reply (or run `/plan` again)",
        )
    with _connect(state) as conn:
        rows = conn.run("SELECT pg_terminate_backend(:pid)", pid=int(lock_id))
    if not rows or rows[0][0] is not True:
        raise InfraError(
            f"`{layer}`: Postgres refused to end session {lock_id}",
            "the backend's user needs the pg_signal_backend role (or to own the session)",
        )
    return current


def _holders(conn: Any, key: int) -> list[tuple[int, str, str, datetime | None]]:
    # A bigint advisory key is stored as two 32-bit halves; objsubid 1 marks the bigint form.
    rows: list[tuple[int, str, str, datetime | None]] = conn.run(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''), "
        "a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = :hi AND l.objid = :lo ORDER BY a.backend_start",
        hi=(key >> 32) & 0xFFFFFFFF,
        lo=key & 0xFFFFFFFF,
    )
    return rows


def _row_id(conn: Any, state: PgState) -> int | None:
    found = conn.run(
        "SELECT to_regclass(:table) IS NOT NULL", table=f"{_quote(state.schema)}.states"
    )
    if not found or not found[0][0]:
        return None
    rows = conn.run(
        f"SELECT id FROM {_quote(state.schema)}.states WHERE name = :name",  # noqa: S608
        name=state.workspace,
    )
    return int(rows[0][0]) if rows else None


def _lock(
    layer: str, pid: int, app: str, client: str, since: datetime | None, *, creating: bool
) -> StateLock:
    run_id, operation = parse_session_name(app)
    who = f"`{app}`" if app else "a session with no application_name"
    if client:
        who += f" from {client}"
    return StateLock(
        layer=layer,
        backend="pg",
        lock_id=str(pid),
        who=who,
        operation=operation,
        created=_when(since),
        path="creating a workspace" if creating else "",
        run_id=run_id,
    )


def _when(since: datetime | None) -> str:
    if since is None:
        return ""
    return since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def connect_args(conn_str: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """pg8000's arguments for a lib/pq connection string (URL or `key=value` form), with the
    libpq environment variables as defaults as lib/pq has them."""
    env = env or {}
    if conn_str.startswith(("postgres://", "postgresql://")):
        url = urlparse(conn_str)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        fields = {
            "host": url.hostname or "",
            "port": str(url.port or ""),
            "user": unquote(url.username or ""),
            "password": unquote(url.password or ""),
            "dbname": url.path.lstrip("/"),
            **params,
        }
    else:
        fields = dict(part.split("=", 1) for part in conn_str.split() if "=" in part)
    host = fields.get("host") or env.get("PGHOST") or "localhost"
    user = fields.get("user") or env.get("PGUSER") or "postgres"
    args: dict[str, Any] = {
        "host": host,
        "port": int(fields.get("port") or env.get("PGPORT") or 5432),
        "user": user,
        "password": fields.get("password") or env.get("PGPASSWORD") or None,
        "database": fields.get("dbname") or env.get("PGDATABASE") or user,
        "timeout": CONNECT_TIMEOUT,
        "application_name": "infra-pipeline",
    }
    mode = fields.get("sslmode") or env.get("PGSSLMODE") or "require"  # lib/pq's default
    import ssl  # here: every start of `infra plan` would pay for it otherwise

    if mode in ("verify-ca", "verify-full"):
        args["ssl_context"] = ssl.create_default_context()
    elif mode != "disable":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # what lib/pq's `require` checks: nothing
        args["ssl_context"] = context
    return args


@contextlib.contextmanager
def _connect(state: PgState) -> Iterator[Any]:
    import pg8000.native  # imported here: only layers on the pg backend pay for it

    try:
        conn = pg8000.native.Connection(**connect_args(state.conn_str, state.env))
    except (pg8000.native.InterfaceError, pg8000.native.DatabaseError, OSError) as exc:
        raise InfraError(
            f"cannot reach the pg state backend: {exc}",
            "check PG_CONN_STR / the layer's backend_config.conn_str",
        ) from exc
    try:
        yield conn
    finally:
        conn.close()
