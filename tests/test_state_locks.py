"""Terraform's state lock on a real remote backend (pg on the test's own PostgreSQL database):
two jobs on one layer wait for each other with a lock timeout, and without one the second
fails with a record naming who holds the lock; the reading of Terraform's lock error itself.

Jobs run as `infra` processes; they are synchronised on the lock in Postgres and on the job's
own output, never on time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from homelab import base_env
from infra_pipeline.config import parse_config
from infra_pipeline.core.state_lock import parse_lock_error
from infra_pipeline.errors import ConfigError
from pgstate import connect, lock_holders, state_resources, state_row

SRC = Path(__file__).resolve().parent.parent / "src"
SCHEMA = "gate_state"
# The apply holds the state lock until the test creates `release` beside the layer.
GATED = """\
terraform {
  backend "pg" {}
}

resource "terraform_data" "gate" {
  provisioner "local-exec" {
    command = "while [ ! -e ../release ]; do sleep 0.1; done"
  }
}
"""


class Streamed:
    """An `infra` process whose output the test can wait on line by line."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                found = next((line for line in self.lines if text in line), None)
                if found is not None:
                    return found
                if not self._reader.is_alive():
                    pytest.fail(f"the job ended before printing {text!r}:\n{self.out}")
                if time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"timed out waiting for {text!r}:\n{self.out}")
                self._seen.wait(timeout=1)

    def wait(self, timeout: float = 240) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code


def until(what: str, check: Callable[[], object], timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def make_layer(tmp_path: Path, lock_timeout: str) -> Path:
    root = tmp_path / "repo"
    (root / "gate").mkdir(parents=True)
    (root / "gate" / "main.tf").write_text(GATED)
    (root / "infra.yaml").write_text(
        "version: 1\n"
        f"lock_timeout: {lock_timeout}\n"
        f"layers:\n  gate: {{path: gate, order: 1, state_key: {SCHEMA}}}\n"
    )
    return root


def job(root: Path, conn: str, run_id: int, *args: str) -> Streamed:
    env = base_env(PG_CONN_STR=conn, GITHUB_RUN_ID=str(run_id), PYTHONPATH=str(SRC))
    return Streamed([sys.executable, "-m", "infra_pipeline", *args], root, env)


def held_by(conn: str, session: str) -> Callable[[], bool]:
    return lambda: any(name == session for _, name in lock_holders(conn))


@pytest.mark.parametrize("lock_timeout", ["0s", "10m"])
def test_a_second_job_on_a_locked_layer_waits_with_a_lock_timeout_and_fails_clearly_without(
    tmp_path: Path, pg_conn_str: str, lock_timeout: str
) -> None:
    root = make_layer(tmp_path, lock_timeout)
    first = job(root, pg_conn_str, 501, "apply", "gate", "--auto-approve")
    # The first job's engine holds the lock while its provisioner waits for `release`.
    until("the apply to hold the state lock", held_by(pg_conn_str, "infra run 501 apply gate"))

    second = job(root, pg_conn_str, 502, "plan", "gate")
    if lock_timeout == "0s":
        assert second.wait() == 1, second.out
        pid = next(p for p, name in lock_holders(pg_conn_str) if name.endswith("apply gate"))
        assert "🔒 gate: the state is locked, held by `infra run 501 apply gate` from " in (
            second.out
        ), second.out
        assert "(apply) since 20" in second.out
        assert f"lock ID `{pid}`" in second.out
        assert f"infra force-unlock gate {pid}" in second.out
    else:
        waiting = second.wait_for_line("waiting for the state lock")
        assert "held by `infra run 501 apply gate` from 127.0.0.1 (apply)" in waiting
    (root / "release").touch()
    assert first.wait() == 0, first.out
    if lock_timeout != "0s":
        assert second.wait() == 0, second.out
        assert "No changes" in second.out or "no changes" in second.out
    assert state_resources(pg_conn_str, SCHEMA) == ["terraform_data.gate"]
    assert lock_holders(pg_conn_str) == []


def test_a_lock_held_by_a_session_that_outlived_its_job_names_that_session(
    tmp_path: Path, pg_conn_str: str
) -> None:
    """What a lost runner leaves: a session still holding the lock, its job long gone."""
    root = make_layer(tmp_path, "0s")
    (root / "release").touch()
    assert job(root, pg_conn_str, 600, "apply", "gate", "--auto-approve").wait() == 0
    row = state_row(pg_conn_str, SCHEMA)
    assert row is not None
    stale = connect(pg_conn_str, name="infra run 599 apply gate")
    try:
        stale.run("SELECT pg_advisory_lock(:key)", key=row)
        planned = job(root, pg_conn_str, 601, "plan", "gate")
        assert planned.wait() == 1
        [(pid, _)] = lock_holders(pg_conn_str)
        assert "held by `infra run 599 apply gate` from 127.0.0.1 (apply) since " in planned.out
        assert f"infra force-unlock gate {pid}" in planned.out
    finally:
        stale.close()
    assert job(root, pg_conn_str, 602, "plan", "gate").wait() == 0


# -- Terraform's lock error, as printed ---------------------------------------------------------

# Terraform 1.11's output when the s3 backend's lock (a DynamoDB item) is held: the Lock Info
# block is the holder's. (statemgr.LockInfo's String(), as every backend prints it.)
S3_LOCKED = """\
Acquiring state lock. This may take a few moments...
╷
│ Error: Error acquiring the state lock
│
│ Error message: operation error DynamoDB: PutItem, https response error StatusCode: 400,
│ ConditionalCheckFailedException: The conditional request failed
│ Lock Info:
│   ID:        4b1ba2f4-6a1e-3c4d-9a6e-1f2c0d5e7a11
│   Path:      acme-tfstate/k3s/terraform.tfstate
│   Operation: OperationTypeApply
│   Who:       runner@fv-az1234-567
│   Version:   1.11.4
│   Created:   2026-11-30 09:12:44.123456789 +0000 UTC
│   Info:      https://github.com/acme/infra/actions/runs/4242
│
│
│ Terraform acquires a state lock to protect the state from being written
│ by multiple users at the same time. Please resolve the issue above and try
│ again. For most commands, you can disable locking with the "-lock=false"
│ flag, but this is not recommended.
╵
"""


def test_lock_info_of_a_held_lock_becomes_a_record() -> None:
    lock = parse_lock_error(S3_LOCKED, layer="bootstrap", backend="s3")
    assert lock is not None
    assert lock.lock_id == "4b1ba2f4-6a1e-3c4d-9a6e-1f2c0d5e7a11"
    assert lock.path == "acme-tfstate/k3s/terraform.tfstate"
    assert lock.operation == "OperationTypeApply"
    assert lock.who == "runner@fv-az1234-567"
    assert lock.version == "1.11.4"
    assert lock.created == "2026-11-30 09:12:44.123456789 +0000 UTC"
    assert lock.run_id == 4242
    assert lock.message.startswith("operation error DynamoDB: PutItem")
    assert lock.describe() == (
        "held by runner@fv-az1234-567 (apply) since 2026-11-30 09:12:44.123456789 +0000 UTC, "
        "lock ID `4b1ba2f4-6a1e-3c4d-9a6e-1f2c0d5e7a11`"
    )
    assert parse_lock_error("Error: Invalid reference", layer="x", backend="s3") is None


def test_lock_timeout_is_a_duration_set_globally_and_per_layer(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = parse_config(
        "version: 1\nlock_timeout: 5m\nlayers:\n"
        "  a: {path: a, order: 1}\n  b: {path: b, order: 2, lock_timeout: 30s}\n",
        tmp_path / "infra.yaml",
    )
    assert config.lock_timeout_for(config.layers["a"]) == "5m"
    assert config.lock_timeout_for(config.layers["b"]) == "30s"
    with pytest.raises(ConfigError, match=r"infra.yaml:2: lock_timeout: .*pattern"):
        parse_config(
            "version: 1\nlock_timeout: five minutes\nlayers:\n  a: {path: a, order: 1}\n",
            tmp_path / "infra.yaml",
        )
