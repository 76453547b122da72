"""Terraform's pg state backend in the tests: a database per test, and a direct line to it
(to read a layer's state, hold its lock as another job would, or see who holds it)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pg8000.native

from infra_pipeline.adapters.pg_locks import connect_args

ENV_VAR = "INFRA_TEST_PG_CONN_STR"  # set by tools/pgcluster.py run (`make test`)
SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "pgcluster.py"


def pgcluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgcluster", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def connect(conn_str: str, name: str = "infra-pipeline tests") -> Any:
    args = connect_args(conn_str)
    args["application_name"] = name
    return pg8000.native.Connection(**args)


def with_database(conn_str: str, database: str) -> str:
    base, _, query = conn_str.partition("?")
    return base.rsplit("/", 1)[0] + f"/{database}" + (f"?{query}" if query else "")


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = connect(server)
    try:
        admin.run(f"CREATE DATABASE {name} TEMPLATE template0")
        yield with_database(server, name)
    finally:
        # FORCE: a test may leave a session behind on purpose (a runner that vanished).
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def state_row(conn_str: str, schema: str) -> int | None:
    """The id of the `default` workspace's row, the key of its advisory lock."""
    db = connect(conn_str)
    try:
        if not db.run("SELECT to_regclass(:t) IS NOT NULL", t=f'"{schema}".states')[0][0]:
            return None
        rows = db.run(f"SELECT id FROM \"{schema}\".states WHERE name = 'default'")
        return int(rows[0][0]) if rows else None
    finally:
        db.close()


def state_resources(conn_str: str, schema: str) -> list[str]:
    """Addresses of the managed resources in the `default` workspace's state."""
    db = connect(conn_str)
    try:
        if not db.run("SELECT to_regclass(:t) IS NOT NULL", t=f'"{schema}".states')[0][0]:
            return []
        rows = db.run(f"SELECT data FROM \"{schema}\".states WHERE name = 'default'")
    finally:
        db.close()
    if not rows:
        return []
    state = json.loads(rows[0][0])
    return sorted(
        f"{r['type']}.{r['name']}" for r in state.get("resources", []) if r["mode"] == "managed"
    )


def lock_holders(conn_str: str) -> list[tuple[int, str]]:
    """(pid, application_name) of every session holding an advisory lock in the database."""
    db = connect(conn_str)
    try:
        rows = db.run(
            "SELECT a.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.datname = current_database()"
        )
    finally:
        db.close()
    return [(int(pid), str(name)) for pid, name in rows]
