#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for the tests and the demo (Terraform's `pg` state backend).

    python tools/pgcluster.py run -- COMMAND...   start a cluster, run COMMAND with
                                                    PG_CONN_STR set, stop the cluster after
                                                    (also when COMMAND fails or is interrupted)
    python tools/pgcluster.py start               start one and print its connection string
                                                    and data directory (for a shell session)
    python tools/pgcluster.py stop DIR            stop the one started in DIR

The cluster lives in a fresh directory under `.pg/` (ignored by git), listens on 127.0.0.1 only,
on a port the kernel says is free, with trust authentication: it holds nothing but test state
and dies with the command. Several worktrees and CI runs can each have one at once. Only the
standard library is used, so `make` can run it before the venv exists.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (which
Debian's `postgresql` package creates; the package is installed when no server is found).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / ".pg"
ENV_VAR = "PG_CONN_STR"  # the variable Terraform's pg backend reads for `conn_str`
# What the tests read: never PG_CONN_STR, which may point at a real backend in a developer's
# shell, where the tests' scratch databases have no business.
TEST_ENV_VAR = "INFRA_TEST_PG_CONN_STR"
START_ATTEMPTS = 5  # another process may take the free port between choosing and binding it


def server_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory; installs it when none is."""
    found = _find_bindir()
    if found is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise SystemExit(
                "pgcluster: no PostgreSQL server found (initdb); install Debian's `postgresql` "
                "package (or your distribution's) and run again"
            )
        print("pgcluster: installing postgresql (apt-get)", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env)
        found = _find_bindir()
        if found is None:
            raise SystemExit("pgcluster: postgresql was installed but initdb is still missing")
    return found


def _find_bindir() -> Path | None:
    override = os.environ.get("PG_BINDIR")
    if override:
        return Path(override)
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(argv: list[str]) -> list[str]:
    # initdb and postgres exit with "cannot be run as root".
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def conn_str(port: int) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"


def start() -> tuple[Path, str]:
    """Create and start a cluster; returns its directory and connection string."""
    bindir = server_bindir()
    BASE.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="cluster-", dir=BASE))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    started = time.monotonic()
    subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",  # a throwaway cluster: durability buys nothing
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={workdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        done = subprocess.run(
            _as_server_user(
                [
                    str(bindir / "pg_ctl"),
                    "start",
                    "--wait",
                    "--silent",
                    "--pgdata",
                    str(data),
                    "--log",
                    str(workdir / "server.log"),
                    "-o",
                    options,
                ]
            ),
            check=False,
        )
        if done.returncode == 0:
            (workdir / "port").write_text(str(port))
            seconds = time.monotonic() - started
            print(f"pgcluster: PostgreSQL on 127.0.0.1:{port} ({seconds:.1f}s)", file=sys.stderr)
            return workdir, conn_str(port)
        print(f"pgcluster: start on port {port} failed (attempt {attempt + 1})", file=sys.stderr)
    log = (workdir / "server.log").read_text(errors="replace")[-2000:]
    stop(workdir)
    raise SystemExit(f"pgcluster: PostgreSQL did not start:\n{log}")


def stop(workdir: Path) -> None:
    """Stop the cluster in `workdir` (if it runs) and delete it."""
    data = workdir / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            _as_server_user(
                [
                    str(server_bindir() / "pg_ctl"),
                    "stop",
                    "--silent",
                    "-m",
                    "immediate",
                    "-D",
                    str(data),
                ]
            ),
            check=False,
        )
    shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """A running cluster for the `with` block; yields its connection string."""
    workdir, conn = start()
    try:
        yield conn
    finally:
        stop(workdir)


def run(argv: list[str]) -> int:
    # SIGTERM (CI cancelling the job) must reach `finally` as SIGINT does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with cluster() as conn:
        child = subprocess.Popen(argv, env={**os.environ, ENV_VAR: conn, TEST_ENV_VAR: conn})
        try:
            return child.wait()
        except BaseException:
            # Interrupted (^C, or SIGTERM from a cancelled CI job, which only this process may
            # have got): ask the child to wind down too, and give it time to finish.
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=60)
            if child.poll() is None:
                child.kill()
            raise


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        command = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        if not command:
            raise SystemExit("usage: pgcluster.py run -- COMMAND...")
        return run(command)
    if argv[:1] == ["start"]:
        workdir, conn = start()
        print(f"export {ENV_VAR}='{conn}'  # stop with: {sys.argv[0]} stop {workdir}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
