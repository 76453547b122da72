"""Terraform's state lock on a real remote backend (pg on the test's own PostgreSQL database):
two jobs on one layer wait for each other with a lock timeout, and without one the second
fails with a record naming who holds the lock; the reading of Terraform's lock error itself.

Jobs run as `infra` processes; they are synchronised on the lock in Postgres and on the job's
own output, never on time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from homelab import add_node, base_env, code_file, copy_example, infra, set_engine
from infra_pipeline.config import Role, parse_config
from infra_pipeline.core.comment_parser import Command, CommandName, Reply, parse_comment
from infra_pipeline.core.state_lock import lock_reply, parse_lock_error
from infra_pipeline.errors import ConfigError
from infra_pipeline.flows.pr_apply import ApplyOutcome, failure_reply
from infra_pipeline.models import LayerRun, Outcome
from mainline import MERGE_SHA, push_to_main, rows, set_in_yaml
from pgstate import connect, lock_holders, state_resources, state_row
from prstory import Repo, dashboard_body, git, make_repo, replies
from standin import GitHubStandIn
from test_pr_faults import add_file, children, comment_job, engine_running, wait_for

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


def test_the_holder_is_found_where_init_recorded_the_backend_settings(
    tmp_path: Path, pg_conn_str: str
) -> None:
    """A backend block with its own settings (as Terragrunt's `generate` writes one): no
    `state_key`, and the holder is still looked up in the schema Terraform uses."""
    root = tmp_path / "repo"
    (root / "vault").mkdir(parents=True)
    (root / "vault" / "main.tf").write_text(
        'terraform {\n  backend "pg" {\n    schema_name = "vault_literal"\n  }\n}\n'
        'resource "terraform_data" "seal" {\n  input = "sealed"\n}\n'
    )
    (root / "infra.yaml").write_text("version: 1\nlayers:\n  vault: {path: vault, order: 1}\n")
    assert job(root, pg_conn_str, 700, "apply", "vault", "--auto-approve").wait() == 0
    row = state_row(pg_conn_str, "vault_literal")
    assert row is not None
    other = connect(pg_conn_str, name="infra run 699 apply vault")
    try:
        other.run("SELECT pg_advisory_lock(:key)", key=row)
        planned = job(root, pg_conn_str, 701, "plan", "vault")
        assert planned.wait() == 1
        [(pid, _)] = lock_holders(pg_conn_str)
        assert "held by `infra run 699 apply vault` from 127.0.0.1 (apply)" in planned.out
        assert f"infra force-unlock vault {pid}" in planned.out
    finally:
        other.close()


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


# -- The PR story: a runner lost mid-apply leaves the lock; /plan says so; /force-unlock -------

PG_BACKEND = 'terraform {\n  backend "pg" {}\n}\n'
# The apply holds the state lock until the runner is "lost" (the test freezes it).
GATED_HOOK = """\
resource "terraform_data" "gate" {
  provisioner "local-exec" {
    command = "while [ ! -e release ]; do sleep 0.1; done"
  }
}

resource "terraform_data" "after_gate" {
  input      = "configured"
  depends_on = [terraform_data.gate]
}
"""


@pytest.fixture
def pg_repo(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], pg_conn_str: str
) -> Repo:
    """The example with `platform` on the pg backend (`state_key` → its schema)."""
    standin.set_permission("alice", "maintain")
    standin.set_permission("bob", "write")
    standin.set_permission("carol", "admin")
    repo = make_repo(tmp_path, standin, gh_env)
    (repo.root / "platform" / "backend.tf").write_text(PG_BACKEND)
    config = repo.root / "infra.yaml"
    text = config.read_text()
    old = "platform:     {path: platform,          engine: terragrunt, order: 2}"
    assert old in text
    config.write_text(
        text.replace(old, "platform: {path: platform, order: 2, state_key: platform}")
    )
    git(repo.root, "checkout", "-q", "main")
    repo.base = add_file(repo, "platform/backend.tf", PG_BACKEND, "platform state in Postgres")
    standin.add_commit(repo.base)
    git(repo.root, "checkout", "-qb", "hook")
    repo.env["PG_CONN_STR"] = pg_conn_str
    return repo


def test_a_runner_lost_mid_apply_leaves_the_lock_which_plan_reports_and_an_admin_releases(
    pg_repo: Repo, standin: GitHubStandIn, pg_conn_str: str
) -> None:
    repo = pg_repo
    head = add_file(repo, "platform/hook.tf", GATED_HOOK, "a gated post-install hook")
    repo.open_pr(7, head, ["platform/hook.tf"])
    assert repo.pr_event(7).code == 0

    applying, _ = comment_job(repo, 7, "/apply", user="alice")
    session = f"infra run {applying.run_id} apply platform"
    until("the apply to hold the state lock", held_by(pg_conn_str, session))
    engine = int(str(wait_for("the engine", lambda: engine_running(applying, "apply"), applying)))
    # The runner is lost: its Terraform frozen with the connection open, the job gone.
    os.kill(engine, signal.SIGSTOP)
    leftovers = [engine, *children(engine)]
    applying.proc.kill()
    applying.wait()  # GitHub marks the run completed (failure)
    try:
        [(pid, holder)] = lock_holders(pg_conn_str)
        assert holder == session

        planned, _ = comment_job(repo, 7, "/plan platform", user="alice")
        assert planned.wait().code == 1
        board = dashboard_body(standin, 7, head)
        assert "| Plan: platform | 🔒 |" in board
        assert "🔒 The Terraform state of `platform` is locked" in board
        reply = replies(standin, 7)[-1]
        assert "🔒 **The Terraform state is locked**" in reply
        assert f"`platform`: held by `{session}` from 127.0.0.1 (apply) since 20" in reply
        assert f"[workflow run {applying.run_id}]({standin.url}/" in reply
        assert f"`/force-unlock platform {pid}`" in reply

        # A writer may not; an admin may not while GitHub says the holder's run still runs.
        refused, _ = comment_job(repo, 7, f"/force-unlock platform {pid}", user="bob")
        result = refused.wait()
        assert result.code == 1
        assert "@bob needs the `admin` role" in replies(standin, 7)[-1]
        assert '"command": "force-unlock"' in result.out and '"result": "refused: ' in result.out
        standin.add_workflow_run(applying.run_id, "in_progress")
        refused, _ = comment_job(repo, 7, f"/force-unlock platform {pid}", user="carol")
        assert refused.wait().code == 1
        assert "which is still `in_progress`" in replies(standin, 7)[-1]
        assert lock_holders(pg_conn_str) == [(pid, session)]

        standin.add_workflow_run(applying.run_id, "completed", "failure")
        released, comment_id = comment_job(repo, 7, f"/force-unlock platform {pid}", user="carol")
        result = released.wait()
        assert result.code == 0, result.out + result.err
        assert lock_holders(pg_conn_str) == []
        reply = replies(standin, 7)[-1]
        assert reply.splitlines()[1].startswith(
            f"🔓 Released the Terraform state lock of `platform`, which was held by `{session}`"
        )
        audit = next(line for line in result.out.splitlines() if "infra-audit " in line)
        entry = json.loads(audit.split("infra-audit ", 1)[1])
        assert entry["who"] == "carol" and entry["command"] == "force-unlock"
        assert entry["layers"] == ["platform"]
        assert entry["result"].startswith(f"ok: released lock {pid}, which was held by ")
        assert standin.reactions(comment_id) == ["eyes", "rocket"]

        again, _ = comment_job(repo, 7, "/plan platform", user="alice")
        assert again.wait().code == 0
        assert "| Plan: platform | ✅ |" in dashboard_body(standin, 7, head)
    finally:
        for pid_ in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid_, signal.SIGKILL)


# -- After merge: a locked layer is reported, the others are scanned and applied ----------------


def test_after_merge_scan_reports_a_locked_layer_and_goes_on_with_the_others(
    tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], pg_conn_str: str
) -> None:
    standin.add_pull(12, state="closed", merged=True, merge_commit_sha=MERGE_SHA)
    root = copy_example(tmp_path)
    # Plain Terraform throughout: platform's state moves to Postgres, which the data units'
    # Terragrunt `dependency` blocks (reading the example's local state) would not follow.
    set_engine(root, "terraform")
    (root / "platform" / "backend.tf").write_text(PG_BACKEND)
    set_in_yaml(
        root,
        "platform:     {path: platform,          engine: terraform, order: 2}",
        "platform: {path: platform, order: 2, state_key: platform}",
    )
    env = {**gh_env, "PG_CONN_STR": pg_conn_str}
    assert (
        infra(root, "apply", "all", "--auto-approve", env=base_env(PG_CONN_STR=pg_conn_str)).code
        == 0
    )
    add_node(root, "node-4")  # drift before the locked layer (order 1) ...
    prod = code_file(root, "data-prod")  # ... and after it (order 4)
    prod.write_text(prod.read_text().replace("replicas    = 3", "replicas    = 4"))
    row = state_row(pg_conn_str, "platform")
    assert row is not None
    other_job = connect(pg_conn_str, name="infra run 77 apply platform")
    try:
        other_job.run("SELECT pg_advisory_lock(:key)", key=row)
        job = push_to_main(root, env)
    finally:
        other_job.close()

    assert job.code == 0, job.out
    table = rows(job.out, "After merge")
    assert "state locked" in table["platform"]
    assert "applied" in table["bootstrap"] and "applied" in table["data-prod"]
    assert "in sync" in table["data-staging"]
    [comment] = standin.comments(12)
    assert (
        "| `platform` | 🔒 state locked | - | not scanned: the state is locked, held by "
        "`infra run 77 apply platform` from 127.0.0.1 (apply) since 20"
    ) in comment.body
    assert "| `data-prod` | 🚀 applied | 1 to change |" in comment.body
    status = standin.latest_statuses(MERGE_SHA)["infra/apply"]
    assert "1 state locked" in (status.description or "")


# -- /force-unlock in a comment, and the replies a held lock gets ------------------------------


def parse(body: str) -> object:
    return parse_comment(
        body, author="carol", author_type="User", layers=("platform", "data-prod"), suites=()
    )


def test_force_unlock_takes_one_layer_and_a_lock_id_that_cannot_pass_for_a_flag() -> None:
    command = parse("/force-unlock platform 31337")
    assert isinstance(command, Command)
    assert command.name is CommandName.FORCE_UNLOCK
    assert (command.layers, command.lock_id) == (("platform",), "31337")
    uuid = parse("/force-unlock data-prod 4b1ba2f4-6a1e-3c4d-9a6e-1f2c0d5e7a11")
    assert isinstance(uuid, Command) and uuid.lock_id == "4b1ba2f4-6a1e-3c4d-9a6e-1f2c0d5e7a11"
    for body, says in [
        ("/force-unlock platform", "takes a layer and a lock ID (got 1 arguments)"),
        ("/force-unlock platform 1 2", "takes a layer and a lock ID (got 3 arguments)"),
        ("/force-unlock platfrom 1", "Did you mean `platform`?"),
        ("/force-unlock platform -lock=false", "is not a state lock ID"),
        ("/force-unlock platform $(reboot)", "is not a state lock ID"),
    ]:
        reply = parse(body)
        assert isinstance(reply, Reply), body
        assert says in reply.text, reply.text
        assert "Usage: `/force-unlock layer lock-id`" in reply.text or "Valid layers" in reply.text


def test_force_unlock_needs_admin_unless_the_config_says_otherwise(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    text = "version: 1\nlayers:\n  a: {path: a, order: 1}\n"
    config = parse_config(text, tmp_path / "infra.yaml")
    assert config.role_for("force-unlock") is Role.ADMIN
    assert config.role_for("unlock") is Role.WRITE
    relaxed = parse_config(
        text + "permissions: {force-unlock: maintain}\n", tmp_path / "infra.yaml"
    )
    assert relaxed.role_for("force-unlock") is Role.MAINTAIN


def test_an_apply_that_found_the_state_locked_says_nothing_was_applied_and_what_to_do() -> None:
    lock = parse_lock_error(S3_LOCKED, layer="bootstrap", backend="s3")
    assert lock is not None
    run = LayerRun("bootstrap", Outcome.FAILED, error="the state is locked", lock=lock)
    reply = failure_reply(ApplyOutcome(runs=(run,)))
    assert reply.startswith(
        "🔒 `/apply` of `bootstrap` did not run: the Terraform state is locked, held by "
        "runner@fv-az1234-567 (apply) since 2026-11-30 09:12:44.123456789 +0000 UTC"
    )
    assert "partly applied" not in reply
    assert "wait for it and comment `/apply` again" in reply
    assert "`/force-unlock bootstrap 4b1ba2f4-6a1e-3c4d-9a6e-1f2c0d5e7a11`" in reply
    plan_reply = lock_reply([lock], "https://github.com/acme/infra/actions/runs")
    assert "[workflow run 4242](https://github.com/acme/infra/actions/runs/4242)" in plan_reply
