"""A job that waits for a Terraform state lock (`lock_timeout`) says so on its dashboard row,
naming the holder, with one dashboard write per wait; and a Terragrunt unit whose pg backend
`root.hcl` generates names the holder of its lock and can be force-unlocked, as plain
Terraform layers can.

Real Terraform, Terragrunt and OpenTofu on the pg backend; the other job is a Postgres session
holding the layer's advisory lock as Terraform's pg backend takes it (`pg_advisory_lock` on the
state's row id). Tests wait on the dashboard the stand-in holds and on Postgres itself, never
on time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard_html import page_of
from homelab import base_env, copy_example, infra, set_engine
from infra_pipeline.core.backend_block import backend_block, rendered_backend
from infra_pipeline.core.dashboard import steps as dash
from infra_pipeline.models import LayerRun, Outcome, StateLock
from mainline import set_in_yaml
from pgstate import connect, lock_holders, state_row
from prstory import Repo, dashboard_body, git, make_repo, replies
from standin import GitHubStandIn
from test_pr_faults import add_file, comment_job, wait_for

SRC = Path(__file__).resolve().parent.parent / "src"
PG_BACKEND = 'terraform {\n  backend "pg" {}\n}\n'
EXTRA = 'resource "terraform_data" "extra" {\n  input = "more"\n}\n'
HOLDER = "infra run 4242 apply platform"  # what another job's Terraform calls its session


@pytest.fixture
def pg_pr(tmp_path: Path, standin: GitHubStandIn, gh_env: dict[str, str], pg_conn_str: str) -> Repo:
    """The example with `platform` on the pg backend, already applied once (its state row is
    the lock's key), a 10 minute lock timeout for that layer only (none for the others)."""
    standin.set_permission("alice", "maintain")
    repo = make_repo(tmp_path, standin, gh_env)
    # Plain Terraform throughout, each layer's code in its directory: the data units'
    # `dependency` on platform would otherwise need platform to stay a Terragrunt unit.
    set_engine(repo.root, "terraform")
    (repo.root / "platform" / "backend.tf").write_text(PG_BACKEND)
    config = repo.root / "infra.yaml"
    old = "platform:     {path: platform,          engine: terraform, order: 2}"
    new = "platform: {path: platform, order: 2, state_key: platform, lock_timeout: 10m}"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    git(repo.root, "checkout", "-q", "main")
    repo.base = add_file(repo, "platform/backend.tf", PG_BACKEND, "platform state in Postgres")
    standin.add_commit(repo.base)
    git(repo.root, "checkout", "-qb", "more")
    repo.env["PG_CONN_STR"] = pg_conn_str
    applied = infra(
        repo.root, "apply", "platform", "--auto-approve", env=base_env(PG_CONN_STR=pg_conn_str)
    )
    assert applied.code == 0, applied.out
    return repo


def dashboard_edits(standin: GitHubStandIn) -> int:
    return sum(
        count
        for (method, route), count in standin.request_counts().items()
        if method == "PATCH" and "issues/comments" in route
    )


def polled_since(conn_str: str, session: str, after: datetime) -> bool:
    """Whether the waiting engine's session asked Postgres for the lock again after `after`
    (the pg backend polls `pg_try_advisory_lock` while it waits)."""
    db = connect(conn_str)
    try:
        rows = db.run(
            "SELECT max(query_start) FROM pg_stat_activity WHERE application_name = :name",
            name=session,
        )
    finally:
        db.close()
    latest = rows[0][0] if rows else None
    return latest is not None and latest > after


def now_in_postgres(conn_str: str) -> datetime:
    db = connect(conn_str)
    try:
        [[now]] = db.run("SELECT clock_timestamp()")
    finally:
        db.close()
    return now.astimezone(UTC)


def test_a_plan_and_an_apply_waiting_for_the_state_lock_show_the_holder_on_their_rows(
    pg_pr: Repo, standin: GitHubStandIn, pg_conn_str: str
) -> None:
    repo = pg_pr
    head = add_file(repo, "platform/extra.tf", EXTRA, "one more resource")
    repo.open_pr(7, head, ["platform/extra.tf"])
    assert repo.pr_event(7).code == 0
    # A plan that waits for nothing: its writes are the baseline (no wait, no extra edit).
    before = dashboard_edits(standin)
    planned, _ = comment_job(repo, 7, "/plan platform")
    assert planned.wait().code == 0
    plain_plan_edits = dashboard_edits(standin) - before
    body = dashboard_body(standin, 7, head)
    assert dash.parse(body).layer("platform").waiting is None
    assert "waiting for the state lock" not in body

    row = state_row(pg_conn_str, "platform")
    assert row is not None
    other = connect(pg_conn_str, name=HOLDER)
    try:
        other.run("SELECT pg_advisory_lock(:key)", key=row)
        before = dashboard_edits(standin)
        waiting, _ = comment_job(repo, 7, "/plan platform")

        def shown() -> dash.Dashboard | None:
            m = dash.parse(dashboard_body(standin, 7, head))
            return m if m.layer("platform").waiting is not None else None

        m = wait_for("the plan row to show the wait", shown, waiting)
        assert isinstance(m, dash.Dashboard)
        lock = m.layer("platform").waiting
        assert lock is not None
        [(pid, _)] = lock_holders(pg_conn_str)
        assert (lock.who, lock.operation, lock.lock_id, lock.run_id) == (
            f"`{HOLDER}` from 127.0.0.1",
            "apply",
            str(pid),
            4242,
        )
        assert m.layer("platform").plan.status is dash.Status.RUNNING
        assert m.state is dash.State.PLAN_RUNNING
        page = page_of(dashboard_body(standin, 7, head))
        status, output, _ = page.rows()["Plan: platform"]
        assert status == "⏳"
        assert output.startswith(
            f"waiting for the state lock held by {HOLDER} from 127.0.0.1 (apply) since 20"
        ), output
        assert f"lock ID {pid}" in output
        assert (
            "holder: workflow run 4242",
            f"{standin.url}/acme/infra/actions/runs/4242",
        ) in page.links
        assert "⏳ `platform` waiting for the Terraform state lock" in body_next_step(standin, head)

        # Terraform keeps polling for the lock; the dashboard is not written again.
        shown_at = now_in_postgres(pg_conn_str)
        session = f"infra run {waiting.run_id} plan platform"
        wait_for(
            "the engine to poll again",
            lambda: polled_since(pg_conn_str, session, shown_at),
            waiting,
        )
        assert dashboard_edits(standin) - before == 2  # the plan's start, and the wait
    finally:
        other.close()  # the holder is done: its lock goes with its session

    result = waiting.wait()
    assert result.code == 0, result.out + result.err
    assert dashboard_edits(standin) - before == plain_plan_edits + 1
    body = dashboard_body(standin, 7, head)
    m = dash.parse(body)
    assert m.layer("platform").waiting is None
    assert m.layer("platform").plan.status is dash.Status.OK
    assert m.state is dash.State.PLAN_DIFF
    status, output, _ = page_of(body).rows()["Plan: platform"]
    assert status == "✅" and "waiting" not in output and output.startswith("1 to add")
    assert not any("locked" in reply for reply in replies(standin, 7))

    # The same for an apply: its re-plan waits, and the Apply row says for whom.
    other = connect(pg_conn_str, name=HOLDER)
    try:
        other.run("SELECT pg_advisory_lock(:key)", key=row)
        applying, _ = comment_job(repo, 7, "/apply", user="alice")

        def apply_waits() -> list[str] | None:
            page = page_of(dashboard_body(standin, 7, head))
            cells = page.rows()["Apply"]
            return cells if "is waiting for the state lock" in cells[1] else None

        status, output, _ = wait_for("the Apply row to show the wait", apply_waits, applying)
        assert status == "⏳"
        assert output.startswith(
            f"platform is waiting for the state lock held by {HOLDER} from 127.0.0.1 (apply)"
        ), output
        assert dash.parse(dashboard_body(standin, 7, head)).state is dash.State.APPLY_RUNNING
    finally:
        other.close()
    result = applying.wait()
    assert result.code == 0, result.out + result.err
    body = dashboard_body(standin, 7, head)
    m = dash.parse(body)
    assert m.layer("platform").waiting is None and m.layer("platform").applied is Outcome.OK
    status, output, _ = page_of(body).rows()["Apply"]
    assert status == "✅" and "waiting" not in output


def body_next_step(standin: GitHubStandIn, head: str) -> str:
    body = dashboard_body(standin, 7, head)
    return body.split("<!-- next-step -->\n", 1)[1].split("\n", 1)[0]


# -- Terragrunt units whose pg backend root.hcl generates ---------------------------------------

LOCAL_BACKEND = (
    'backend "local" {\n        path = "${get_terragrunt_dir()}/terraform.tfstate"\n      }'
)
SCHEMA = 'tg_${replace(path_relative_to_include(), "/", "_")}'
GENERATED = f'backend "pg" {{\n        schema_name = "{SCHEMA}"\n      }}'
REMOTE_STATE = f"""\
remote_state {{
  backend = "pg"
  generate = {{
    path      = "backend.tf"
    if_exists = "overwrite_terragrunt"
  }}
  config = {{
    schema_name = "{SCHEMA}"
  }}
}}
"""


def pg_units(tmp_path: Path, form: str) -> Path:
    """The example with its Terragrunt units' backend generated by root.hcl: a `generate`
    block holding a pg backend block, or a `remote_state` block. infra.yaml says nothing of
    it (no `state_key`, no `backend_config`)."""
    root = copy_example(tmp_path)
    root_hcl = root / "root.hcl"
    text = root_hcl.read_text()
    assert LOCAL_BACKEND in text
    if form == "generate":
        root_hcl.write_text(text.replace(LOCAL_BACKEND, GENERATED))
    else:
        root_hcl.write_text(text[: text.index('generate "backend"')] + REMOTE_STATE)
    return root


@pytest.mark.parametrize("form", ["generate", "remote_state"])
def test_a_terragrunt_unit_with_a_generated_pg_backend_names_the_holder_and_is_force_unlocked(
    tmp_path: Path, pg_conn_str: str, form: str
) -> None:
    root = pg_units(tmp_path, form)
    schema = "tg_platform"
    if form == "remote_state":
        # infra.yaml's `state_key` goes to the attribute of the backend Terragrunt generates
        # (pg: `schema_name`), known before Terragrunt first ran from `terragrunt render`.
        schema = "tg_keyed"
        old = "platform:     {path: platform,          engine: terragrunt, order: 2}"
        new = "platform: {path: platform, engine: terragrunt, order: 2, state_key: tg_keyed}"
        assert old in (root / "infra.yaml").read_text()
        set_in_yaml(root, old, new)
    env = base_env(PG_CONN_STR=pg_conn_str)
    applied = infra(root, "apply", "platform", "--auto-approve", env=env)
    assert applied.code == 0, applied.out
    row = state_row(pg_conn_str, schema)
    assert row is not None, "the state is where root.hcl (or state_key) put it"
    other = connect(pg_conn_str, name="infra run 88 apply platform")
    try:
        other.run("SELECT pg_advisory_lock(:key)", key=row)
        [(pid, _)] = lock_holders(pg_conn_str)
        planned = infra(root, "plan", "platform", env=env)
        assert planned.code == 1
        assert (
            "🔒 platform: the state is locked, held by `infra run 88 apply platform` from "
            "127.0.0.1 (apply) since 20"
        ) in planned.out, planned.out
        assert f"infra force-unlock platform {pid}" in planned.out

        # The runbook from a fresh checkout (a `/force-unlock` job): Terragrunt never ran
        # there, so the backend comes from `terragrunt render`.
        fresh = tmp_path / "fresh"
        shutil.copytree(
            root, fresh, ignore=shutil.ignore_patterns(".terraform", ".terragrunt-cache")
        )
        wrong = infra(fresh, "force-unlock", "platform", str(pid + 100000), env=env)
        assert wrong.code == 1
        assert "held by `infra run 88 apply platform`" in wrong.out
        assert lock_holders(pg_conn_str) == [(pid, "infra run 88 apply platform")]
        released = infra(fresh, "force-unlock", "platform", str(pid), env=env)
        assert released.code == 0, released.out
        assert "🔓 released the state lock of platform, which was held by `infra run 88" in (
            released.out
        )
        assert lock_holders(pg_conn_str) == []
    finally:
        other.close()
    assert infra(root, "plan", "platform", env=env).code == 0


# -- the pieces, without a backend -------------------------------------------------------------


def test_backend_settings_are_read_from_a_literal_block_and_from_terragrunt_render() -> None:
    assert backend_block(
        'terraform {\n  backend "pg" {\n    schema_name = "vault"\n    conn_str = var.db\n'
        "    skip_index_creation = true\n  }\n}\n"
    ) == ("pg", {"schema_name": "vault", "skip_index_creation": "true"})
    assert backend_block('terraform {\n  required_version = ">= 1.5"\n}\n') is None
    assert backend_block("terraform { backend") is None  # not HCL
    # `terragrunt render --json` (v1.1.0) of the example's units, trimmed.
    remote = (
        '{"remote_state": {"backend": "pg", "config": {"schema_name": "tg_platform"}, '
        '"generate": {"path": "backend.tf", "if_exists": "overwrite_terragrunt"}}}'
    )
    assert rendered_backend(remote) == ("pg", {"schema_name": "tg_platform"})
    generated = (
        '{"generate": {"backend": {"contents": "terraform {\\n  backend \\"pg\\" {\\n    '
        'schema_name = \\"tg_platform\\"\\n  }\\n}\\n", "disable": false, "path": '
        '"backend.tf"}, "providers": {"contents": "provider \\"x\\" {}", "disable": false}}}'
    )
    assert rendered_backend(generated) == ("pg", {"schema_name": "tg_platform"})
    assert rendered_backend('{"generate": {}, "remote_state": null}') is None
    assert rendered_backend("not json") is None


SHA = "a" * 40


def test_a_lock_wait_shows_only_on_the_running_row_and_its_result_replaces_it() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    m = dash.new_dashboard(
        repo="acme/infra",
        pr=7,
        head_sha=SHA,
        base_sha="b" * 40,
        layers=["a", "b"],
        server_url="https://github.com",
    )
    m = dash.start_stage(m, dash.Stage.CI, 11, now)
    m = dash.finish_stage(m, dash.Stage.CI, dash.Status.OK, 11, now)
    m = dash.start_plan(m, ["a"], 11, now)
    lock = StateLock(
        "a",
        "pg",
        "31337",
        who="`infra run 9 apply a` from 10.0.0.7",
        operation="apply",
        created="2026-11-30 11:59:00 UTC",
        run_id=9,
        info="x" * 5000,
    )
    assert dash.wait_for_lock(m, lock, run_id=12) == m  # another run's plan: not ours to mark
    assert dash.wait_for_lock(m, StateLock("b", "pg", "1"), run_id=11) == m  # b is not running
    waiting = dash.wait_for_lock(m, lock, run_id=11)
    kept = waiting.layer("a").waiting
    assert kept is not None and kept.info == ""  # only what the row shows is kept
    assert dash.parse(dash.render(waiting)) == waiting
    done = dash.record_plans(
        waiting, [LayerRun("a", Outcome.FAILED, error="boom")], 11, now, base_sha="b" * 40
    )
    assert done.layer("a").waiting is None
    # A run that died while waiting: its row goes stale, and no longer waits.
    stale = dash.mark_stale(waiting, lambda run: False, now, timedelta(hours=3))
    assert stale.layer("a").plan.status is dash.Status.STALE
    assert stale.layer("a").waiting is None


# -- a foreign lock, and a layer's lock_timeout over the global one ----------------------------

FOREIGN_LAYER = """\
terraform {
  backend "pg" {
    schema_name = "vault_foreign"
  }
}

resource "terraform_data" "seal" {
  input = "sealed"
}
"""


def test_a_foreign_lock_is_named_as_such_and_the_layers_own_zero_timeout_wins(
    tmp_path: Path, pg_conn_str: str, standin: GitHubStandIn, gh_env: dict[str, str]
) -> None:
    """A lock taken outside any pipeline run (someone's terminal, a psql session): the reply
    says so (no run to link, none to ask GitHub about) and an operator may release it. The
    layer's `lock_timeout: 0s` beats the global 10m: it fails at once instead of waiting."""
    root = tmp_path / "repo"
    (root / "vault").mkdir(parents=True)
    (root / "vault" / "main.tf").write_text(FOREIGN_LAYER)
    (root / "infra.yaml").write_text(
        "version: 1\nlock_timeout: 10m\n"
        "layers:\n  vault: {path: vault, order: 1, lock_timeout: 0s}\n"
    )
    env = base_env(PG_CONN_STR=pg_conn_str)
    assert infra(root, "apply", "vault", "--auto-approve", env=env).code == 0
    row = state_row(pg_conn_str, "vault_foreign")
    assert row is not None
    terminal = connect(pg_conn_str, name="")
    try:
        terminal.run("SELECT pg_advisory_lock(:key)", key=row)
        [(pid, _)] = lock_holders(pg_conn_str)
        # In a child process: were the global 10m to win, it would wait, and time out here.
        planned = subprocess.run(
            [sys.executable, "-m", "infra_pipeline", "plan", "vault"],
            cwd=root,
            env={**env, "PYTHONPATH": str(SRC)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        out = planned.stdout + planned.stderr
        assert planned.returncode == 1, out
        assert "waiting for the state lock" not in out
        assert (
            "🔒 vault: the state is locked, held by a session with no application_name from "
            "127.0.0.1 since 20"
        ) in out, out
        assert f"infra force-unlock vault {pid}" in out
        released = infra(root, "force-unlock", "vault", str(pid), env={**env, **gh_env})
        assert released.code == 0, released.out
        assert lock_holders(pg_conn_str) == []
        assert not any("actions/runs" in route for _, route in standin.request_counts())
    finally:
        terminal.close()


# Terraform 1.11's pg backend when the lock is held: the Lock Info is the requester's own.
PG_LOCKED = """\
╷
│ Error: Error acquiring the state lock
│
│ Error message: Workspace is already locked: default
│ Lock Info:
│   ID:        0d6f7c3a-55a1-2b7e-1c0f-3f9e2a4b7d10
│   Path:
│   Operation: OperationTypePlan
│   Who:       runner@fv-az999-1
│   Version:   1.11.4
│   Created:   2026-11-30 12:00:01.5 +0000 UTC
│   Info:
╵
"""


def test_a_pg_lock_whose_holder_is_gone_is_not_pinned_on_the_requester(
    tmp_path: Path, pg_conn_str: str
) -> None:
    """By the time Postgres is asked, the holder may have let go: the reply then says the
    holder is unknown, never the requester's own Lock Info as if it held the lock."""
    from infra_pipeline.adapters.terraform import TerraformEngine
    from infra_pipeline.config import parse_config

    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "main.tf").write_text(FOREIGN_LAYER)
    config = parse_config(
        "version: 1\nlayers:\n  vault: {path: vault, order: 1}\n", tmp_path / "infra.yaml"
    )
    engine = TerraformEngine(config, config.layers["vault"], env=base_env(PG_CONN_STR=pg_conn_str))
    lock = engine.state_lock(PG_LOCKED)
    assert lock is not None
    assert (lock.backend, lock.who, lock.run_id) == ("pg", "", None)
    assert lock.describe().startswith("held by an unknown holder, lock ID")
